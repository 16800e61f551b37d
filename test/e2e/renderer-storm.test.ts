import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScopeSettings } from '../../machines/scope.machine.js';
import type { MessageInput } from '../../src/core/bridge-input.js';
import { FeishuApi } from '../../src/feishu/api.js';
import { createFeishuPort } from '../../src/feishu/outbound.js';
import { createCardSink } from '../../src/runtime/card-sink.js';
import { RenderHub } from '../../src/runtime/render-hub.js';
import { FINAL_HEADER } from '../support/cards.js';
import {
  DEFAULT_USER_OPEN_ID,
  type FeishuEmulator,
  startFeishuEmulator,
  waitFor,
} from '../support/feishu-emulator/index.js';
import { TEST_SCOPE_SETTINGS } from '../support/scope-fixtures.js';

const FLUSH_INTERVAL_MS = 250; // ≥ 200 ms: PATCH stays under Feishu's 5 QPS per message
const UPDATES = 200;

const SETTINGS = TEST_SCOPE_SETTINGS;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A run's live card under a storm: 200 agent updates in bursts while Feishu answers the card
 * writes with 429s and 230020s. Real renderer machines (RenderHub), real card sink, real
 * FeishuPort over the real node-sdk, against the emulator, which enforces the rate limits.
 */
describe('run card under an update storm and a rate-limit storm', () => {
  let emulator: FeishuEmulator;
  let hub: RenderHub;
  const logger = pino({ level: 'silent' });

  beforeAll(async () => {
    emulator = await startFeishuEmulator();
    const api = new FeishuApi(
      { appId: emulator.appId, appSecret: emulator.appSecret, domain: emulator.url },
      logger,
    );
    const sink = createCardSink({ feishu: createFeishuPort(api), logger, agentName: 'Codex', now: Date.now });
    hub = new RenderHub({ flushCard: sink, flushIntervalMs: FLUSH_INTERVAL_MS, logger });
  });

  afterAll(async () => {
    hub?.stopAll();
    await emulator?.close();
  });

  it('lands the final content once, paced under the limits, whatever Feishu answers meanwhile', async () => {
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    // The user's message, as the emulator stores a pushed one (no WS client needed to reply to it).
    const userMessage = emulator.state.addMessage({
      chatId,
      msgType: 'text',
      content: JSON.stringify({ text: 'write me a long answer' }),
      senderId: DEFAULT_USER_OPEN_ID,
      senderType: 'user',
      mentions: [],
    });
    const input: MessageInput = {
      kind: 'message',
      scopeId: `chat:${chatId}`,
      messageId: userMessage.messageId,
      actorId: DEFAULT_USER_OPEN_ID,
      chat: { chatId, chatType: 'p2p' },
      text: 'write me a long answer',
      receivedAt: Date.now(),
    };

    // The storm, in two waves (faults are consumed in order by matching requests). Wave 1: the
    // first reply is refused twice, then card PATCHes get 429s. Wave 2, once live writes got
    // through again: 230020s with a reset header, then 230020s without one (1 s fallback).
    // A reset of 0 s must not mean "retry at once": the renderer still waits its interval.
    const reset0 = { 'x-ogw-ratelimit-reset': '0' };
    emulator.failApi({ method: 'POST', path: /\/reply$/, status: 429, headers: reset0, times: 2 });
    emulator.failApi({ method: 'PATCH', path: /\/messages\/om_/, status: 429, headers: reset0, times: 4 });
    const secondWave = () => {
      emulator.failApi({
        method: 'PATCH',
        path: /\/messages\/om_/,
        status: 400,
        code: 230020,
        headers: reset0,
        times: 8,
      });
      emulator.failApi({ method: 'PATCH', path: /\/messages\/om_/, status: 400, code: 230020, times: 2 });
    };
    const acceptedPatches = () =>
      emulator.callsTo('PATCH', /\/messages\/om_/).filter((c) => c.status === 200);

    const runId = 'r-storm-1';
    hub.update(runId, { type: 'render.open', scopeId: input.scopeId, inputs: [input], settings: SETTINGS });
    hub.update(runId, { type: 'render.started', at: Date.now() });
    // Bursts of 10 updates every 50 ms. Wave 2 goes in once a live PATCH got through after wave 1;
    // the stream goes on for at least 200 updates and until wave 2 has met live writes.
    let sent = 0;
    let waveAt: number | undefined;
    while (sent < UPDATES || waveAt === undefined || sent < waveAt + 40) {
      if (waveAt === undefined && acceptedPatches().length >= 1) {
        secondWave();
        waveAt = sent;
      }
      hub.update(runId, {
        type: 'render.agent',
        event: { type: 'text', itemId: 'answer', text: `word${sent} `, mode: 'delta' },
        at: Date.now(),
      });
      sent += 1;
      if (sent % 10 === 0) await sleep(50);
      if (sent > 10 * UPDATES) throw new Error('no live PATCH got through after wave 1');
    }
    hub.update(runId, { type: 'render.finish', outcome: 'completed', at: Date.now() });
    await waitFor(() => hub.activeRuns === 0, { timeoutMs: 20_000 });

    const botMessages = emulator.view(chatId).filter((m) => m.from === 'bot');
    expect(botMessages, 'one card, no duplicates').toHaveLength(1);
    const card = botMessages[0]!;
    expect(card.msgType).toBe('interactive');
    expect(card.parentId).toBe(userMessage.messageId);
    expect(card.text).toMatch(FINAL_HEADER);
    expect(card.text).toContain('✅ Done');
    expect(card.text).toContain('word0 ');
    expect(card.text).toContain(`word${sent - 1} `);

    // Every fault was consumed (the storm really happened) …
    const patches = emulator.callsTo('PATCH', /\/messages\/om_/);
    const refused = patches.filter((c) => c.status !== 200);
    expect(refused).toHaveLength(14);
    expect(emulator.callsTo('POST', /\/reply$/).filter((c) => c.status !== 200)).toHaveLength(2);
    // … the updates were coalesced …
    const accepted = patches.filter((c) => c.status === 200);
    expect(accepted.length, 'a live write between the waves, and the final one').toBeGreaterThanOrEqual(2);
    expect(accepted.length).toBeLessThan(sent / 10);
    // … accepted writes kept the interval, except the immediate final one …
    for (let i = 1; i < accepted.length - 1; i++) {
      expect(accepted[i]!.at - accepted[i - 1]!.at, `accepted PATCH #${i}`).toBeGreaterThanOrEqual(
        FLUSH_INTERVAL_MS - 5,
      );
    }
    // … every write, refused or not, waited at least the interval after a refusal …
    const writes = [...emulator.callsTo('POST', /\/reply$/), ...patches].sort((a, b) => a.at - b.at);
    for (let i = 1; i < writes.length; i++) {
      if (writes[i - 1]!.status !== 200)
        expect(writes[i]!.at - writes[i - 1]!.at, `write #${i} after a refusal`).toBeGreaterThanOrEqual(
          FLUSH_INTERVAL_MS - 5,
        );
    }
    // … and the emulator saw no breach of the per-message and per-chat limits (injected faults are not breaches).
    expect(
      emulator.violations.filter((v) => v.kind === 'message_patch_rate' || v.kind === 'chat_send_rate'),
    ).toEqual([]);
  });
});
