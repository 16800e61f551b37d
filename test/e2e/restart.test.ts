import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { showsOutcome } from '../support/cards.js';
import { type FeishuEmulator, startFeishuEmulator, waitFor } from '../support/feishu-emulator/index.js';
import { startLarkcode } from '../support/larkcode-harness.js';
import { type MockModel, reply, startMockModel } from '../support/mock-model/index.js';

/** What must survive a restart: the Codex thread of each chat, and the memory of what already ran. */
describe('restart', () => {
  let emulator: FeishuEmulator;
  let mock: MockModel;
  let reuse: { home: string; workspace: string };

  beforeAll(async () => {
    emulator = await startFeishuEmulator();
    mock = await startMockModel();
    reuse = {
      home: await mkdtemp(join(tmpdir(), 'larkcode-restart-home-')),
      workspace: await mkdtemp(join(tmpdir(), 'larkcode-restart-ws-')),
    };
  });

  afterAll(async () => {
    await mock?.close();
    await emulator?.close();
    await rm(reuse.home, { recursive: true, force: true });
    await rm(reuse.workspace, { recursive: true, force: true });
  });

  const cardFor = (chatId: string, messageId: string) =>
    waitFor(
      () =>
        emulator.view(chatId).find((m) => m.from === 'bot' && m.parentId === messageId && showsOutcome(m)),
      {
        timeoutMs: 20_000,
      },
    );

  it('resumes the chat’s codex thread and does not re-run a message redelivered after the restart', async () => {
    const chat = emulator.createChat({ mode: 'p2p' });
    mock.enqueue(reply.message('first life'));
    const first = await startLarkcode({ emulator, mockBaseUrl: mock.baseUrl, reuse });
    const before = await emulator.pushMessage({ chatId: chat.chatId, text: 'remember the number 42' });
    await cardFor(chat.chatId, before.messageId);
    const threadId = mock.requests[0]?.threadId;
    await first.stop();

    const second = await startLarkcode({ emulator, mockBaseUrl: mock.baseUrl, reuse });
    await emulator.waitForClient();
    // Feishu redelivers an event whose ack it missed — the same ids, after the restart.
    await emulator.pushMessage({
      chatId: chat.chatId,
      text: 'remember the number 42',
      messageId: before.messageId,
      eventId: before.eventId,
    });
    mock.enqueue(reply.message('second life'));
    const after = await emulator.pushMessage({ chatId: chat.chatId, text: 'which number?' });
    await cardFor(chat.chatId, after.messageId);
    await second.stop();

    expect(mock.requests).toHaveLength(2);
    expect(mock.requests[1]?.threadId).toBe(threadId);
    expect(mock.requests[1]?.allUserTexts.join('\n')).toContain('remember the number 42');
    expect(
      emulator.view(chat.chatId).filter((m) => m.from === 'bot' && m.parentId === before.messageId),
    ).toHaveLength(1);
  });
});
