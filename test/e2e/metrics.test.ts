import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FINAL_HEADER } from '../support/cards.js';
import { type FeishuEmulator, startFeishuEmulator, waitFor } from '../support/feishu-emulator/index.js';
import { type InProcessLarkcode, startLarkcode } from '../support/larkcode-harness.js';
import { ScriptedAgent } from '../support/scripted-agent.js';

/** /metrics and /health on loopback, fed by real runs through the real SDK. */
describe('metrics and health', () => {
  let emulator: FeishuEmulator;
  let larkcode: InProcessLarkcode;
  let agent: ScriptedAgent;
  let url: string;

  beforeAll(async () => {
    emulator = await startFeishuEmulator();
    agent = new ScriptedAgent();
    larkcode = await startLarkcode({ emulator, agent, config: { health: { enabled: true, port: 0 } } });
    url = String(larkcode.logs.find((l) => l.msg === 'metrics and health served')?.url);
  });
  afterAll(async () => {
    await larkcode?.stop();
    await emulator?.close();
  });

  it('counts runs, outcomes, tokens and dropped messages, and reports the connection as healthy', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const sent = await emulator.pushMessage({ chatId, text: 'count me' });
    await waitFor(() => agent.runs.length > 0, { timeoutMs: 5000 });
    agent.current.push({ type: 'session', sessionId: 'thread-m' });
    agent.current.push({
      type: 'usage',
      usage: {
        inputTokens: 120,
        cachedInputTokens: 20,
        outputTokens: 30,
        reasoningTokens: 5,
        cumulative: true,
      },
    });
    agent.current.finish();
    await waitFor(
      () => emulator.view(chatId).find((m) => m.parentId === sent.messageId && FINAL_HEADER.test(m.text)),
      { timeoutMs: 5000 },
    );
    await emulator.pushMessage({
      chatId,
      text: 'stranger here',
      senderOpenId: 'ou_stranger00000000000000000001',
    });
    const text = await waitFor(
      async () => {
        const body = await (await fetch(`${url}/metrics`)).text();
        // Tokens are counted once the run's final card landed, just after the outcome.
        return (
          body.includes('larkcode_runs_finished_total{outcome="completed"} 1') &&
          body.includes('larkcode_tokens_total{kind="input"} 120') &&
          body
        );
      },
      { timeoutMs: 5000 },
    );
    expect(text).toContain('larkcode_runs_started_total 1');
    expect(text).toContain('larkcode_active_runs 0');
    expect(text).toContain('larkcode_tokens_total{kind="input"} 120');
    expect(text).toContain('larkcode_tokens_total{kind="output"} 30');
    expect(text).toMatch(/larkcode_run_duration_seconds_count 1/);
    expect(text).toContain('larkcode_messages_dropped_total{reason="stranger"} 1');
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);
    const report = (await health.json()) as {
      status: string;
      connection: { state: string; lastEventAt?: string };
    };
    expect(report.status).toBe('ok');
    expect(report.connection.state).toBe('connected');
    expect(report.connection.lastEventAt).toBeDefined();
  });
});
