import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FINAL_HEADER } from '../support/cards.js';
import { type FeishuEmulator, startFeishuEmulator, waitFor } from '../support/feishu-emulator/index.js';
import { startLarkcode } from '../support/larkcode-harness.js';
import { type MockModel, reply, startMockModel } from '../support/mock-model/index.js';

/** Sessions on the real codex: /resume after a daemon restart continues the right thread. */
describe('sessions with the real codex', () => {
  let emulator: FeishuEmulator;
  let mock: MockModel;
  let reuse: { home: string; workspace: string };

  beforeAll(async () => {
    emulator = await startFeishuEmulator();
    mock = await startMockModel();
    reuse = {
      home: await mkdtemp(join(tmpdir(), 'larkcode-sessions-home-')),
      workspace: await mkdtemp(join(tmpdir(), 'larkcode-sessions-ws-')),
    };
  });
  afterAll(async () => {
    await mock?.close();
    await emulator?.close();
    await rm(reuse.home, { recursive: true, force: true });
    await rm(reuse.workspace, { recursive: true, force: true });
  });

  const outcome = (chatId: string, messageId: string) =>
    waitFor(
      () =>
        emulator
          .view(chatId)
          .find(
            (m) =>
              m.from === 'bot' &&
              m.parentId === messageId &&
              m.msgType === 'interactive' &&
              FINAL_HEADER.test(m.text),
          ),
      { timeoutMs: 20_000 },
    );
  const reply_ = (chatId: string, messageId: string) =>
    waitFor(() => emulator.view(chatId).find((m) => m.from === 'bot' && m.parentId === messageId), {
      timeoutMs: 10_000,
    });

  it('/resume after a restart picks the right codex thread, and the model sees the earlier turns', async () => {
    const chat = emulator.createChat({ mode: 'p2p' });
    const first = await startLarkcode({
      emulator,
      mockBaseUrl: mock.baseUrl,
      reuse,
      config: { runs: { debounceMs: 50 } },
    });
    mock.enqueue(reply.message('noted the papaya'));
    const papaya = await emulator.pushMessage({ chatId: chat.chatId, text: 'remember the word PAPAYA' });
    await outcome(chat.chatId, papaya.messageId);
    const papayaThread = mock.requests.at(-1)?.threadId;
    mock.enqueue(reply.message('noted the mango'));
    const mango = await emulator.pushMessage({ chatId: chat.chatId, text: '/new remember the word MANGO' });
    await outcome(chat.chatId, mango.messageId);
    const mangoThread = mock.requests.at(-1)?.threadId;
    expect(mangoThread).toBeDefined();
    expect(mangoThread).not.toBe(papayaThread);
    await first.stop();

    const second = await startLarkcode({
      emulator,
      mockBaseUrl: mock.baseUrl,
      reuse,
      config: { runs: { debounceMs: 50 } },
    });
    try {
      await emulator.waitForClient();
      const resume = await emulator.pushMessage({ chatId: chat.chatId, text: '/resume' });
      const card = await reply_(chat.chatId, resume.messageId);
      expect(card.text).toContain('remember the word PAPAYA');
      expect(card.text).toContain('remember the word MANGO');
      const stored = emulator.messages(chat.chatId).find((m) => m.messageId === card.messageId)!;
      const buttons: { text: { content: string }; behaviors: { value: object }[] }[] = JSON.parse(
        stored.content,
      ).body.elements.filter((e: { tag: string }) => e.tag === 'button');
      // Newest first: MANGO is current (1), PAPAYA is 2 and has the button.
      const resumePapaya = buttons.find((b) => b.text.content === 'Resume 2')!;
      expect(resumePapaya).toBeDefined();
      const pressed = await emulator.pushCardAction({
        messageId: card.messageId,
        value: resumePapaya.behaviors[0]!.value,
      });
      expect(JSON.stringify(pressed.acks)).toContain('Session resumed');

      mock.enqueue(reply.message('the word was PAPAYA'));
      const before = mock.requests.length;
      const ask = await emulator.pushMessage({ chatId: chat.chatId, text: 'which word?' });
      await outcome(chat.chatId, ask.messageId);
      const request = mock.requests.at(-1)!;
      expect(mock.requests.length).toBe(before + 1);
      expect(request.threadId, 'the real codex resumed the PAPAYA thread').toBe(papayaThread);
      const seen = JSON.stringify(request.body);
      expect(seen).toContain('remember the word PAPAYA');
      expect(seen).toContain('noted the papaya');
      expect(seen).not.toContain('MANGO');

      // Access changed → a new thread, and the chat is told so.
      const cd = await emulator.pushMessage({ chatId: chat.chatId, text: `/cd ${reuse.workspace}` });
      const confirm = await reply_(chat.chatId, cd.messageId);
      const cdStored = emulator.messages(chat.chatId).find((m) => m.messageId === confirm.messageId)!;
      const readOnly = JSON.parse(cdStored.content).body.elements.find(
        (e: { tag: string; text?: { content: string } }) =>
          e.tag === 'button' && e.text?.content.includes('read-only'),
      );
      await emulator.pushCardAction({ messageId: confirm.messageId, value: readOnly.behaviors[0].value });
      await waitFor(
        () =>
          emulator
            .view(chat.chatId)
            .find((m) => m.from === 'bot' && m.text.includes('next message starts a new Codex session')),
        { timeoutMs: 5000 },
      );
      mock.enqueue(reply.message('fresh start'));
      const fresh = await emulator.pushMessage({ chatId: chat.chatId, text: 'which word now?' });
      await outcome(chat.chatId, fresh.messageId);
      const freshRequest = mock.requests.at(-1)!;
      expect(freshRequest.threadId).not.toBe(papayaThread);
      expect(JSON.stringify(freshRequest.body)).not.toContain('PAPAYA');
    } finally {
      await second.stop();
    }
  });
});
