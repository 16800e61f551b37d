import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FeishuEmulator, startFeishuEmulator, waitFor } from '../support/feishu-emulator/index.js';
import { type InProcessLarkcode, startLarkcode } from '../support/larkcode-harness.js';
import { ScriptedAgent } from '../support/scripted-agent.js';

/**
 * A deaf long connection: the emulator keeps the socket open but stops answering (no pongs, no
 * events), as after a NAT drop. larkcode must notice and reconnect by itself. Timings are
 * shortened here (production: look every 15 s, ping after 20 s of silence, 10 s to answer).
 */
describe('liveness of the long connection', () => {
  let emulator: FeishuEmulator;
  let larkcode: InProcessLarkcode;

  beforeAll(async () => {
    emulator = await startFeishuEmulator();
    larkcode = await startLarkcode({
      emulator,
      agent: new ScriptedAgent(),
      liveness: { checkEveryMs: 100, quietAfterMs: 400, answerWithinMs: 400 },
    });
  });
  afterAll(async () => {
    await larkcode?.stop();
    await emulator?.close();
  });

  it('notices a silent connection, reconnects, and messages flow again', async () => {
    const connectionsBefore = emulator.state.acks.length;
    emulator.setSilent(true);
    const started = Date.now();
    await waitFor(() => larkcode.logs.some((l) => l.msg === 'feishu long connection is deaf; reconnecting'), {
      timeoutMs: 10_000,
    });
    const detectedAfter = Date.now() - started;
    expect(detectedAfter).toBeLessThan(5_000);
    // A fresh connection is not silent: a message is handled again.
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    await waitFor(() => emulator.connectedClients() === 1 && emulator.status().connectedClients === 1, {
      timeoutMs: 10_000,
    });
    const sent = await waitFor(
      async () => {
        const pushed = await emulator.pushMessage({ chatId, text: '/status' });
        return pushed.acks.length > 0 && pushed;
      },
      { timeoutMs: 15_000, intervalMs: 500 },
    );
    await waitFor(
      () => emulator.view(chatId).find((m) => m.from === 'bot' && m.parentId === sent.messageId),
      {
        timeoutMs: 5000,
      },
    );
    expect(emulator.state.acks.length).toBeGreaterThan(connectionsBefore);
  });
});
