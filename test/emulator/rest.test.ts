// REST surface through the real SDK Client: tokens, messages, threads, uploads, comments, faults, limits.
import type { AxiosError } from 'axios';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_USER_OPEN_ID,
  type FeishuEmulator,
  startFeishuEmulator,
} from '../support/feishu-emulator/index.js';
import { sdkClient } from './harness.js';

let emu: FeishuEmulator | undefined;

afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

async function setup(opts = {}) {
  emu = await startFeishuEmulator(opts);
  return { emu, client: sdkClient(emu) };
}

/** Runs an SDK call and returns either the JSON body or the error response (status + body). */
async function outcome(
  fn: () => Promise<unknown>,
): Promise<{ status: number; body: { code: number; msg: string } }> {
  try {
    return { status: 200, body: (await fn()) as { code: number; msg: string } };
  } catch (error) {
    const response = (error as AxiosError).response;
    if (!response) throw error;
    return {
      status: response.status,
      body: response.data as { code: number; msg: string },
      ...{ headers: response.headers },
    };
  }
}

const text = (t: string) => JSON.stringify({ text: t });

function card(elements: object[]): string {
  return JSON.stringify({
    schema: '2.0',
    header: { title: { tag: 'plain_text', content: 'T' } },
    body: { elements },
  });
}

describe('feishu emulator: REST', () => {
  it('fetches the tenant token once, reuses it, and rejects unknown tokens with 99991663', async () => {
    const { emu, client } = await setup();
    const { chatId } = emu.createChat({ mode: 'group' });
    for (const t of ['a', 'b']) {
      const res = await client.im.v1.message.create({
        params: { receive_id_type: 'chat_id' },
        data: { receive_id: chatId, msg_type: 'text', content: text(t) },
      });
      expect(res.code).toBe(0);
    }
    expect(emu.callsTo('POST', /tenant_access_token/)).toHaveLength(1);
    const token = (emu.callsTo('POST', /tenant_access_token/)[0]!.response as { expire: number }).expire;
    expect(token).toBe(7200);
    const sends = emu.callsTo('POST', /^\/open-apis\/im\/v1\/messages$/);
    expect(sends[0]!.headers.authorization).toBe(sends[1]!.headers.authorization);
    const res = await fetch(`${emu.url}/open-apis/bot/v3/info`, {
      headers: { authorization: 'Bearer t-bogus' },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: number }).code).toBe(99991663);
  });

  it('serves bot info and chat.get with the chat mode', async () => {
    const { emu, client } = await setup({ botName: 'Larky' });
    const info = (await client.request({ url: '/open-apis/bot/v3/info', method: 'GET' })) as {
      bot: { open_id: string; app_name: string };
    };
    expect(info.bot).toMatchObject({ open_id: emu.botOpenId, app_name: 'Larky' });
    const { chatId } = emu.createChat({ mode: 'topic', name: 'Topics' });
    const chat = await client.im.v1.chat.get({ path: { chat_id: chatId } });
    expect(chat.data).toMatchObject({ chat_mode: 'topic', name: 'Topics' });
  });

  it('reply with reply_in_thread opens a thread and later replies stay in it', async () => {
    const { emu, client } = await setup();
    const { chatId } = emu.createChat({ mode: 'group' });
    const { messageId } = await pushStored(emu, chatId, 'question');
    const first = await client.im.v1.message.reply({
      path: { message_id: messageId },
      data: { msg_type: 'text', content: text('answer'), reply_in_thread: true },
    });
    const threadId = first.data!.thread_id!;
    expect(threadId).toMatch(/^omt_/);
    expect(first.data).toMatchObject({ root_id: messageId, parent_id: messageId });
    const second = await client.im.v1.message.reply({
      path: { message_id: first.data!.message_id! },
      data: { msg_type: 'text', content: text('more') },
    });
    expect(second.data!.thread_id).toBe(threadId);
    const view = emu.view(chatId);
    expect(view.map((v) => v.threadId)).toEqual([threadId, threadId, threadId]);
    expect(view.map((v) => v.text)).toEqual(['question', 'answer', 'more']);
  });

  it('gives new root messages in topic chats a thread_id; follow-ups and bot replies stay in it', async () => {
    const { emu, client } = await setup();
    const { chatId } = emu.createChat({ mode: 'topic' });
    const root = await pushStored(emu, chatId, 'topic start');
    expect(root.threadId).toMatch(/^omt_/);
    const follow = await pushStored(emu, chatId, 'more', { threadId: root.threadId });
    const reply = await client.im.v1.message.reply({
      path: { message_id: follow.messageId },
      data: { msg_type: 'text', content: text('ok'), reply_in_thread: true },
    });
    expect(reply.data).toMatchObject({ thread_id: root.threadId, root_id: root.messageId });
    const other = await pushStored(emu, chatId, 'second topic');
    expect(other.threadId).not.toBe(root.threadId);
    expect(emu.view(chatId).map((v) => [v.text, v.rootId ?? null])).toEqual([
      ['topic start', null],
      ['more', root.messageId],
      ['ok', root.messageId],
      ['second topic', null],
    ]);
  });

  it('sends to an open_id through the p2p chat with that user', async () => {
    const { emu, client } = await setup();
    const { chatId } = await pushStored(emu, undefined, 'dm me');
    const sent = await client.im.v1.message.create({
      params: { receive_id_type: 'open_id' },
      data: { receive_id: DEFAULT_USER_OPEN_ID, msg_type: 'text', content: text('dm back') },
    });
    expect(sent.data!.chat_id).toBe(chatId);
    expect(emu.view(chatId).map((v) => v.from)).toEqual(['user', 'bot']);
  });

  it('records but allows breaches when enforceLimits is false', async () => {
    const { emu, client } = await setup({ enforceLimits: false });
    const { chatId } = emu.createChat({ mode: 'group' });
    for (let i = 0; i < 6; i++) {
      const res = await client.im.v1.message.create({
        params: { receive_id_type: 'chat_id' },
        data: { receive_id: chatId, msg_type: 'text', content: text(`m${i}`) },
      });
      expect(res.code).toBe(0);
    }
    expect(emu.violations.map((v) => v.kind)).toEqual(['chat_send_rate']);
  });

  it('uploads an image and a file from Buffers and downloads a message resource', async () => {
    const { emu, client } = await setup();
    const image = await client.im.v1.image.create({
      data: { image_type: 'message', image: Buffer.from('PNGDATA') },
    });
    expect(image?.image_key).toMatch(/^img_v3_/);
    const file = await client.im.v1.file.create({
      data: { file_type: 'stream', file_name: 'notes.txt', file: Buffer.from('hello file') },
    });
    expect(file?.file_key).toMatch(/^file_v3_/);
    const upload = emu.callsTo('POST', /\/im\/v1\/files$/)[0]!.body as { multipart: { name: string }[] };
    expect(upload.multipart.map((p) => p.name).sort()).toEqual(['file', 'file_name', 'file_type']);
    const downloaded = await client.im.v1.image.get({ path: { image_key: image!.image_key! } });
    expect((await streamToBuffer(downloaded.getReadableStream())).toString()).toBe('PNGDATA');

    const { chatId } = emu.createChat({ mode: 'p2p' });
    const pushed = await pushStored(emu, chatId, '', {
      msgType: 'file',
      content: { file_key: 'file_user_1' },
    });
    emu.addResource({
      messageId: pushed.messageId,
      fileKey: 'file_user_1',
      bytes: Buffer.from('user bytes'),
    });
    const resource = await client.im.v1.messageResource.get({
      path: { message_id: pushed.messageId, file_key: 'file_user_1' },
      params: { type: 'file' },
    });
    expect((await streamToBuffer(resource.getReadableStream())).toString()).toBe('user bytes');
  });

  it('stores comments for fileComment.get and records the bot reply', async () => {
    const { emu, client } = await setup();
    // No WS client: store the comment without delivering (the push itself would wait for a client).
    const pushed = emu.pushCommentEvent({
      text: 'please summarise',
      fileToken: 'doxcnEMU',
      commentId: '7001',
    });
    pushed.catch(() => undefined);
    const comment = await client.drive.v1.fileComment.get({
      path: { file_token: 'doxcnEMU', comment_id: '7001' },
      params: { file_type: 'docx' },
    });
    const elements = comment.data!.reply_list!.replies![0]!.content.elements;
    expect(elements.map((e) => e.text_run?.text).filter(Boolean)).toEqual(['please summarise']);
    await client.drive.v1.fileCommentReply.create({
      path: { file_token: 'doxcnEMU', comment_id: '7001' },
      params: { file_type: 'docx' },
      data: { content: { elements: [{ type: 'text_run', text_run: { text: 'Summary: ...' } }] } },
    });
    const replies = await client.drive.v1.fileCommentReply.list({
      path: { file_token: 'doxcnEMU', comment_id: '7001' },
      params: { file_type: 'docx' },
    });
    expect(replies.data!.items!.map((r) => r.user_id)).toEqual([emu.comments[0]!.userId, emu.botOpenId]);
  });

  it('applies failApi faults exactly `times` times (500, 429 with reset header, 230020, delay)', async () => {
    const { emu, client } = await setup();
    const { chatId } = emu.createChat({ mode: 'group' });
    const send = () =>
      outcome(() =>
        client.im.v1.message.create({
          params: { receive_id_type: 'chat_id' },
          data: { receive_id: chatId, msg_type: 'text', content: text('x') },
        }),
      );
    emu.failApi({ method: 'POST', path: /^\/open-apis\/im\/v1\/messages$/, status: 500, times: 2 });
    expect((await send()).status).toBe(500);
    expect((await send()).status).toBe(500);
    expect((await send()).body.code).toBe(0);

    emu.failApi({ path: /^\/open-apis\/im\/v1\/messages$/, status: 429, code: 99991400 });
    const limited = (await send()) as Awaited<ReturnType<typeof send>> & { headers: Record<string, string> };
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe(99991400);
    expect(limited.headers['x-ogw-ratelimit-reset']).toBe('1');

    emu.failApi({ path: /^\/open-apis\/im\/v1\/messages$/, status: 400, code: 230020, msg: 'freq' });
    expect((await send()).body.code).toBe(230020);

    emu.failApi({ path: /^\/open-apis\/im\/v1\/messages$/, delayMs: 300 });
    const started = Date.now();
    expect((await send()).body.code).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect((await send()).body.code).toBe(0);
  });

  it('limits sends to 5 per second per chat (230020) and records the violation', async () => {
    const { emu, client } = await setup();
    const { chatId } = emu.createChat({ mode: 'group' });
    const results = [];
    for (let i = 0; i < 6; i++) {
      results.push(
        await outcome(() =>
          client.im.v1.message.create({
            params: { receive_id_type: 'chat_id' },
            data: { receive_id: chatId, msg_type: 'text', content: text(`m${i}`) },
          }),
        ),
      );
    }
    expect(results.map((r) => r.body.code)).toEqual([0, 0, 0, 0, 0, 230020]);
    expect(results[5]!.status).toBe(400);
    expect(emu.violations.map((v) => v.kind)).toEqual(['chat_send_rate']);
  });

  it('rejects oversize cards (230025), >200 elements (230099/11310) and 4 tables (230099)', async () => {
    const { emu, client } = await setup();
    const { chatId } = emu.createChat({ mode: 'group' });
    const sendCard = (content: string) =>
      outcome(() =>
        client.im.v1.message.create({
          params: { receive_id_type: 'chat_id' },
          data: { receive_id: chatId, msg_type: 'interactive', content },
        }),
      );
    const big = await sendCard(card([{ tag: 'markdown', content: 'x'.repeat(31 * 1024) }]));
    expect(big.body.code).toBe(230025);

    const many = await sendCard(
      card(Array.from({ length: 201 }, (_, i) => ({ tag: 'markdown', content: `${i}` }))),
    );
    expect(many.status).toBe(400);
    expect(many.body.code).toBe(230099);
    expect(many.body.msg).toContain('ErrCode: 11310; ErrMsg: element exceeds the limit');

    const table = '| a | b |\n| --- | --- |\n| 1 | 2 |\n';
    const tables = await sendCard(card([{ tag: 'markdown', content: table.repeat(4) }]));
    expect(tables.body.code).toBe(230099);
    expect(tables.body.msg).toContain('card table number over limit');

    const fine = await sendCard(card([{ tag: 'markdown', content: table.repeat(3) }]));
    expect(fine.body.code).toBe(0);
    expect(emu.violations.map((v) => v.kind)).toEqual(['card_size', 'card_elements', 'card_tables']);
  });

  it('patches a sent card, applies a callback response card, and edits text', async () => {
    const { emu, client } = await setup();
    const { chatId } = emu.createChat({ mode: 'group' });
    const sent = await client.im.v1.message.create({
      params: { receive_id_type: 'chat_id' },
      data: {
        receive_id: chatId,
        msg_type: 'interactive',
        content: card([{ tag: 'markdown', content: 'v1' }]),
      },
    });
    const messageId = sent.data!.message_id!;
    await client.im.v1.message.patch({
      path: { message_id: messageId },
      data: { content: card([{ tag: 'markdown', content: 'v2' }]) },
    });
    expect(emu.view(chatId)[0]).toMatchObject({ text: 'T\nv2', updates: 1, from: 'bot' });
    const edited = await client.im.v1.message.create({
      params: { receive_id_type: 'chat_id' },
      data: { receive_id: chatId, msg_type: 'text', content: text('draft') },
    });
    await client.im.v1.message.update({
      path: { message_id: edited.data!.message_id! },
      data: { msg_type: 'text', content: text('final') },
    });
    await client.im.v1.messageReaction.create({
      path: { message_id: edited.data!.message_id! },
      data: { reaction_type: { emoji_type: 'THUMBSUP' } },
    });
    expect(emu.view(chatId)[1]).toMatchObject({
      text: 'final',
      updates: 1,
      reactions: [{ emoji: 'THUMBSUP', by: emu.botOpenId }],
    });
  });

  it('serves the control API over HTTP', async () => {
    const { emu } = await setup();
    const { connectEmulatorControl } = await import('../support/feishu-emulator/control-client.js');
    const control = connectEmulatorControl(emu.url);
    const { chatId } = await control.createChat({ mode: 'group', name: 'ctl' });
    await control.failApi({ path: /^\/open-apis\/bot/, status: 503 });
    const res = await fetch(`${emu.url}/open-apis/bot/v3/info`);
    expect(res.status).toBe(503);
    expect((await control.status()).connectedClients).toBe(0);
    expect((await control.calls()).map((c) => c.path)).toEqual(['/open-apis/bot/v3/info']);
    expect(await control.view(chatId)).toEqual([]);
  });
});

/** Pushes a user message without a WS client: stored immediately, delivery left to time out. */
async function pushStored(
  emu: FeishuEmulator,
  chatId: string | undefined,
  t: string,
  extra: { msgType?: string; content?: object; threadId?: string } = {},
): Promise<{ messageId: string; threadId?: string; chatId: string }> {
  const before = emu.messages().length;
  emu.pushMessage({ chatId, text: t, ...extra }).catch(() => undefined);
  const stored = emu.messages()[before]!;
  return { messageId: stored.messageId, threadId: stored.threadId, chatId: stored.chatId };
}

async function streamToBuffer(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}
