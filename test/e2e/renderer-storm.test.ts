import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

const FLUSH_INTERVAL_MS = 150; // the daemon's default: ≤ 7 CardKit operations/s per card
const UPDATES = 200;

const SETTINGS = TEST_SCOPE_SETTINGS;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A run's live card under a storm: 200 agent updates in bursts while Feishu answers the
 * CardKit writes with 429s (reset 0 s and 1 s), 99991400 and 230020s. Real renderer machines
 * (RenderHub), real card sink, real FeishuPort over the real node-sdk, against the emulator,
 * which enforces the per-card operation rate and sequence order.
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
    const sink = createCardSink({
      feishu: createFeishuPort(api),
      logger,
      agentName: 'Codex',
      now: Date.now,
      showReasoning: true,
    });
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
    // card's creation is refused twice, then its streamed content gets 429s. Wave 2, once live
    // writes got through again: 230020 / 99991400 with a reset header on every CardKit write
    // (content, full update, settings), then 230020 without one (1 s fallback). A reset of 0 s
    // must not mean "retry at once": the renderer still waits its interval.
    const reset0 = { 'x-ogw-ratelimit-reset': '0' };
    const content = /\/cardkit\/v1\/cards\/[^/]+\/elements\/[^/]+\/content$/;
    const anyCardWrite = /\/cardkit\/v1\/cards\/[^/]+(\/settings|\/elements\/[^/]+\/content)?$/;
    emulator.failApi({
      method: 'POST',
      path: /\/cardkit\/v1\/cards$/,
      status: 429,
      headers: reset0,
      times: 2,
    });
    emulator.failApi({ method: 'PUT', path: content, status: 429, headers: reset0, times: 4 });
    const secondWave = () => {
      emulator.failApi({ path: anyCardWrite, status: 400, code: 230020, headers: reset0, times: 5 });
      emulator.failApi({
        path: anyCardWrite,
        status: 429,
        code: 99991400,
        headers: { 'x-ogw-ratelimit-reset': '1' },
        times: 3,
      });
      emulator.failApi({ path: anyCardWrite, status: 400, code: 230020, times: 2 });
    };
    const cardWrites = () =>
      emulator.calls.filter(
        (c) => c.method !== 'GET' && anyCardWrite.test(c.path) && c.path.includes('/cards/'),
      );
    const acceptedContent = () => emulator.callsTo('PUT', content).filter((c) => c.status === 200);

    const runId = 'r-storm-1';
    hub.update(runId, { type: 'render.open', scopeId: input.scopeId, inputs: [input], settings: SETTINGS });
    hub.update(runId, { type: 'render.started', at: Date.now() });
    // Bursts of 10 updates every 50 ms. Wave 2 goes in once a live write got through after wave 1;
    // the stream goes on for at least 200 updates and until wave 2 has met live writes.
    let sent = 0;
    let waveAt: number | undefined;
    while (sent < UPDATES || waveAt === undefined || sent < waveAt + 60) {
      if (waveAt === undefined && acceptedContent().length >= 1) {
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
      if (sent > 10 * UPDATES) throw new Error('no live write got through after wave 1');
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
    // No final text lost: every word, in order.
    const words = Array.from({ length: sent }, (_, i) => `word${i}`).join(' ');
    expect(card.text.replace(/\s+/g, ' ')).toContain(words);
    const entity = Object.values(emulator.cards).find((c) => c.cardId);
    expect(entity?.streamingMode, 'streaming turned off at the end').toBe(false);

    // Every fault was consumed (the storm really happened) …
    const writes = cardWrites();
    expect(writes.filter((c) => c.status !== 200).length).toBeGreaterThanOrEqual(4 + 10);
    expect(emulator.callsTo('POST', /\/cardkit\/v1\/cards$/).filter((c) => c.status !== 200)).toHaveLength(2);
    // … the updates were coalesced …
    const accepted = writes.filter((c) => c.status === 200);
    expect(accepted.length, 'live writes between the waves, and the final ones').toBeGreaterThanOrEqual(3);
    expect(accepted.length).toBeLessThan(sent / 5);
    // … every write after a refusal waited at least the interval …
    for (let i = 1; i < writes.length; i++) {
      if (writes[i - 1]!.status !== 200)
        expect(writes[i]!.at - writes[i - 1]!.at, `write #${i} after a refusal`).toBeGreaterThanOrEqual(
          FLUSH_INTERVAL_MS - 5,
        );
    }
    // … and the emulator saw no breach of any limit (injected faults are not breaches).
    expect(emulator.violations).toEqual([]);
  });
});
