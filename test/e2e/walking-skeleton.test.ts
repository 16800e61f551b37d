import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScopeStore } from '../../src/store/scope-store.js';
import { showsOutcome } from '../support/cards.js';
import {
  DEFAULT_USER_OPEN_ID,
  type FeishuEmulator,
  startFeishuEmulator,
  waitFor,
} from '../support/feishu-emulator/index.js';
import { type InProcessLarkcode, startLarkcode } from '../support/larkcode-harness.js';
import { type MockModel, reply, startMockModel } from '../support/mock-model/index.js';

/**
 * The thin path through every layer, for real: the node-sdk against the Feishu
 * emulator, the codex binary against the mock model, larkcode's own composition root.
 */
describe('walking skeleton: Feishu message → real Codex turn → card', () => {
  let emulator: FeishuEmulator;
  let mock: MockModel;
  let larkcode: InProcessLarkcode;

  beforeAll(async () => {
    emulator = await startFeishuEmulator({ echoBotMessages: true });
    mock = await startMockModel();
    larkcode = await startLarkcode({ emulator, mockBaseUrl: mock.baseUrl });
    await emulator.waitForClient();
  });

  afterAll(async () => {
    await larkcode?.stop();
    await mock?.close();
    await emulator?.close();
  });

  const botReplies = (chatId: string) => emulator.view(chatId).filter((m) => m.from === 'bot');
  /** The bot's reply to a message, once it shows how the run ended (cards are live until then). */
  const replyTo = (chatId: string, messageId: string) =>
    waitFor(() => botReplies(chatId).find((m) => m.parentId === messageId && showsOutcome(m)), {
      timeoutMs: 20_000,
    });

  let p2pChat: string;
  let firstThreadId: string | undefined;

  it('runs a real codex command in the workspace and answers with a card showing the answer and the command', async () => {
    mock.enqueue(reply.shell('printf hi > hello.txt'), reply.message('Created hello.txt containing "hi".'));
    const chat = emulator.createChat({ mode: 'p2p' });
    p2pChat = chat.chatId;
    const sent = await emulator.pushMessage({ chatId: p2pChat, text: 'create hello.txt containing hi' });
    expect(sent.acks).toEqual([{ code: 200 }]);

    const card = await replyTo(p2pChat, sent.messageId);
    expect(card.msgType).toBe('interactive');
    expect(card.text).toContain('Done');
    expect(card.text).toContain('Created hello.txt containing "hi".');
    expect(card.text).toContain('printf hi > hello.txt');
    expect(readFileSync(join(larkcode.workspace, 'hello.txt'), 'utf8')).toBe('hi');

    const [, afterTool] = mock.requests;
    expect(afterTool?.toolOutputs.length).toBe(1);
    expect(mock.requests[0]?.lastUserText).toContain('create hello.txt containing hi');
    firstThreadId = mock.requests[0]?.threadId;
    expect(firstThreadId).toBeTruthy();
    expect(new ScopeStore(join(larkcode.home, 'state')).get(`chat:${p2pChat}`)?.sessionId).toBe(
      firstThreadId,
    );
  });

  it('resumes the same codex thread for the next message in that chat', async () => {
    mock.enqueue(reply.message('It contains hi.'));
    const before = mock.requests.length;
    const sent = await emulator.pushMessage({ chatId: p2pChat, text: 'what is in hello.txt?' });
    const card = await replyTo(p2pChat, sent.messageId);
    expect(card.text).toContain('It contains hi.');
    const resumed = mock.requests[before];
    expect(resumed?.threadId).toBe(firstThreadId);
    expect(resumed?.allUserTexts.join('\n')).toContain('create hello.txt containing hi');
    expect(resumed?.lastUserText).toContain('what is in hello.txt?');
  });

  it('runs an event delivered three times only once', async () => {
    mock.enqueue(reply.message('answer to the duplicated message'), reply.message('answer to the follow-up'));
    const before = mock.requests.length;
    const repliesBefore = botReplies(p2pChat).length;
    const duplicated = await emulator.pushMessage({ chatId: p2pChat, text: 'say something once', times: 3 });
    expect(duplicated.acks).toHaveLength(3);
    await replyTo(p2pChat, duplicated.messageId);
    // Inputs of one chat are handled in order: once the follow-up is answered, any duplicate run would have shown.
    const followUp = await emulator.pushMessage({ chatId: p2pChat, text: 'and a follow-up' });
    await replyTo(p2pChat, followUp.messageId);
    expect(mock.requests.length - before).toBe(2);
    expect(botReplies(p2pChat).length - repliesBefore).toBe(2);
    expect(botReplies(p2pChat).filter((m) => m.parentId === duplicated.messageId)).toHaveLength(1);
  });

  it('ignores a group message without @mention and answers the one with it', async () => {
    mock.enqueue(reply.message('answer for the mention'));
    const group = emulator.createChat({ mode: 'group' });
    const before = mock.requests.length;
    const unmentioned = await emulator.pushMessage({
      chatId: group.chatId,
      chatType: 'group',
      text: 'chatting among ourselves',
    });
    const mentioned = await emulator.pushMessage({
      chatId: group.chatId,
      chatType: 'group',
      text: 'please help',
      mentionBot: true,
    });
    const card = await replyTo(group.chatId, mentioned.messageId);
    expect(card.text).toContain('answer for the mention');
    expect(mock.requests.length - before).toBe(1);
    expect(mock.requests[before]?.lastUserText).toContain('please help');
    expect(mock.requests[before]?.lastUserText).not.toContain('@');
    expect(botReplies(group.chatId).filter((m) => m.parentId === unmentioned.messageId)).toHaveLength(0);
  });

  it('answers in the topic thread and keeps a separate session per topic', async () => {
    mock.enqueue(reply.message('topic answer'));
    const topicChat = emulator.createChat({ mode: 'topic' });
    const sent = await emulator.pushMessage({
      chatId: topicChat.chatId,
      chatType: 'group',
      text: 'topic question',
      mentionBot: true,
    });
    expect(sent.threadId).toBeTruthy();
    const card = await replyTo(topicChat.chatId, sent.messageId);
    expect(card.threadId).toBe(sent.threadId);
    const call = emulator.callsTo('POST', new RegExp(`/messages/${sent.messageId}/reply`))[0];
    expect((call?.body as { reply_in_thread?: boolean } | undefined)?.reply_in_thread).toBe(true);
    const request = mock.requests[mock.requests.length - 1];
    expect(request?.threadId).not.toBe(firstThreadId);
  });

  it('answers an unsupported message type with one clear line and runs nothing', async () => {
    const before = mock.requests.length;
    const sent = await emulator.pushMessage({
      chatId: p2pChat,
      msgType: 'sticker',
      content: { file_key: 'sticker_1' },
    });
    const answer = await replyTo(p2pChat, sent.messageId);
    expect(answer.msgType).toBe('text');
    expect(answer.text).toMatch(/sticker messages are not supported yet/);
    expect(mock.requests.length).toBe(before);
  });

  it('reports a failed model turn on the card, with the reason', async () => {
    mock.enqueue(reply.failure('the model is overloaded'));
    const sent = await emulator.pushMessage({ chatId: p2pChat, text: 'this one will fail' });
    const card = await replyTo(p2pChat, sent.messageId);
    expect(card.text).toContain('Failed');
    expect(card.text).toContain('the model is overloaded');
  });

  it('still delivers the answer when the message it replies to was recalled', async () => {
    mock.enqueue(reply.message('answer after recall'));
    const chat = emulator.createChat({ mode: 'p2p' });
    emulator.failApi({
      method: 'POST',
      path: /\/reply$/,
      status: 400,
      code: 230011,
      msg: 'The message was withdrawn.',
    });
    await emulator.pushMessage({ chatId: chat.chatId, text: 'quick question' });
    const card = await waitFor(
      () => botReplies(chat.chatId).find((m) => m.text.includes('answer after recall')),
      {
        timeoutMs: 20_000,
      },
    );
    expect(card.parentId).toBeUndefined();
    expect(card.msgType).toBe('interactive');
  });

  it('continues a too-long answer on continuation cards, nothing lost, within every limit', async () => {
    const paragraphs = Array.from({ length: 60 }, (_, i) => `Paragraph ${i}: ${'lorem ipsum '.repeat(50)}`);
    mock.enqueue(reply.message(paragraphs.join('\n\n')));
    const sent = await emulator.pushMessage({ chatId: p2pChat, text: 'write a long essay' });
    const cards = await waitFor(
      () => {
        const replies = botReplies(p2pChat).filter((m) => m.parentId === sent.messageId);
        return replies.some((m) => m.text.includes('✅ Done')) && replies;
      },
      { timeoutMs: 20_000 },
    );
    expect(cards.length, '36 KB of text needs a second card').toBeGreaterThanOrEqual(2);
    expect(cards.every((m) => m.msgType === 'interactive')).toBe(true);
    for (const card of cards.slice(0, -1)) expect(card.text).toContain('continued ↓');
    const joined = cards.map((m) => m.text).join('\n');
    for (const p of paragraphs) expect(joined).toContain(p.trim());
    expect(emulator.violations).toEqual([]);
  });

  it('never answers a stranger, nor its own messages echoed back', async () => {
    const before = mock.requests.length;
    const strangerChat = emulator.createChat({ mode: 'p2p' });
    const stranger = await emulator.pushMessage({
      chatId: strangerChat.chatId,
      senderOpenId: 'ou_stranger0000000000',
      text: 'let me in',
    });
    // A later message from the owner in the same chat is answered, so the stranger's had its turn to be handled.
    mock.enqueue(reply.message('owner answer'));
    const owner = await emulator.pushMessage({
      chatId: strangerChat.chatId,
      senderOpenId: DEFAULT_USER_OPEN_ID,
      text: 'owner here',
    });
    await replyTo(strangerChat.chatId, owner.messageId);
    expect(botReplies(strangerChat.chatId).filter((m) => m.parentId === stranger.messageId)).toHaveLength(0);
    expect(mock.requests.length - before).toBe(1);
    const dropped = larkcode.logs.filter((l) => l.msg === 'message dropped').map((l) => l.reason);
    expect(dropped).toContain('stranger');
    expect(dropped).toContain('own_message');
  });

  it('on shutdown, reports the run in flight as interrupted before exiting', async () => {
    mock.enqueue(reply.hang());
    const sent = await emulator.pushMessage({ chatId: p2pChat, text: 'a very long job' });
    await mock.waitForRequests(mock.requests.length + 1);
    await larkcode.daemon.stop();
    const card = await replyTo(p2pChat, sent.messageId);
    expect(card.text).toContain('Interrupted');
    expect(card.text).toContain('shut down');
  });
});
