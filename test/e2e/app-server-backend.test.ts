import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FINAL_HEADER } from '../support/cards.js';
import { type FeishuEmulator, waitFor } from '../support/feishu-emulator/index.js';
import { type CodexStack, type InProcessLarkcode, startCodexStack } from '../support/larkcode-harness.js';
import { type MockModel, reply } from '../support/mock-model/index.js';

/**
 * `codex.backend: app-server` end to end: the real `codex app-server` against the mock model,
 * larkcode on the real SDK against the emulator. Unlike `codex exec`, the answer reaches the
 * card while the model is still writing it.
 */
describe('codex app-server backend', () => {
  let emulator: FeishuEmulator;
  let mock: MockModel;
  let larkcode: InProcessLarkcode;
  let stack: CodexStack;

  beforeAll(async () => {
    stack = await startCodexStack({
      cardFlushIntervalMs: 150,
      config: { runs: { debounceMs: 50 }, health: { enabled: true, port: 0 } },
      codexBackend: 'app-server',
    });
    ({ emulator, mock, larkcode } = stack);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('streams the answer into the card before the turn ends, then finishes Done', async () => {
    expect(larkcode.config.codex.backend).toBe('app-server');
    const words = Array.from({ length: 8 }, (_, i) => `part${i}`);
    mock.enqueue(reply.message(words.join(' '), { deltas: 8, delayMsBetweenDeltas: 250 }));
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const sent = await emulator.pushMessage({ chatId, text: 'stream please' });
    // While the turn runs, the card already shows some of the answer but not all of it.
    const partial = await waitFor(
      () => {
        const card = emulator.view(chatId).find((m) => m.from === 'bot' && m.parentId === sent.messageId);
        return card?.text.includes('part1') && !FINAL_HEADER.test(card.text) && card;
      },
      { timeoutMs: 15_000, intervalMs: 20 },
    );
    expect(partial.text).not.toContain('part7');
    const done = await waitFor(
      () =>
        emulator
          .view(chatId)
          .find((m) => m.from === 'bot' && m.parentId === sent.messageId && FINAL_HEADER.test(m.text)),
      { timeoutMs: 15_000 },
    );
    expect(done.text).toContain('✅ Done');
    expect(done.text).toContain(words.join(' '));
    expect(emulator.violations).toEqual([]);
    // The real turn is counted: outcome, duration and this turn's tokens as codex reported them.
    const url = String(larkcode.logs.find((l) => l.msg === 'metrics and health served')?.url);
    const metrics = await waitFor(
      async () => {
        const text = await (await fetch(`${url}/metrics`)).text();
        // Tokens are counted once the run's final card landed.
        return (
          text.includes('larkcode_runs_finished_total{outcome="completed"} 1') &&
          /larkcode_tokens_total\{kind="input"\} [1-9]/.test(text) &&
          text
        );
      },
      { timeoutMs: 5000 },
    );
    expect(metrics).toMatch(/larkcode_tokens_total\{kind="output"\} [1-9]/);
    expect(metrics).toContain('larkcode_run_duration_seconds_count 1');
  });
});
