import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent, ToolCall } from '../../src/agents/types.js';
import { FINAL_HEADER } from '../support/cards.js';
import {
  DEFAULT_USER_OPEN_ID,
  type FeishuEmulator,
  startFeishuEmulator,
  waitFor,
} from '../support/feishu-emulator/index.js';
import type { ChatViewItem } from '../support/feishu-emulator/types.js';
import { type InProcessLarkcode, startLarkcode } from '../support/larkcode-harness.js';
import { ScriptedAgent } from '../support/scripted-agent.js';

/**
 * Run cards end to end through the real node-sdk against the emulator, which enforces
 * Feishu's limits (30 KB, 200 components, 3 tables, 10 ops/s per card, sequence order,
 * streaming timeout, PATCH and send rates). The agent is scripted so runs can be huge.
 */
describe('run cards through the real SDK', () => {
  let emulator: FeishuEmulator;
  let larkcode: InProcessLarkcode | undefined;
  let agent: ScriptedAgent;

  const start = async (options: { streamingTimeoutMs?: number; cardStreamingRefreshMs?: number } = {}) => {
    emulator = await startFeishuEmulator(
      options.streamingTimeoutMs ? { streamingTimeoutMs: options.streamingTimeoutMs } : {},
    );
    agent = new ScriptedAgent();
    larkcode = await startLarkcode({
      emulator,
      agent,
      cardFlushIntervalMs: 150,
      ...(options.cardStreamingRefreshMs ? { cardStreamingRefreshMs: options.cardStreamingRefreshMs } : {}),
    });
  };

  beforeEach(() => {
    larkcode = undefined;
  });
  afterEach(async () => {
    await larkcode?.stop();
    await emulator?.close();
  });

  const botReplies = (chatId: string, to: string): ChatViewItem[] =>
    emulator.view(chatId).filter((m) => m.from === 'bot' && m.parentId === to);
  const finished = (chatId: string, to: string) =>
    waitFor(
      () => {
        const replies = botReplies(chatId, to);
        return replies.some((m) => FINAL_HEADER.test(m.text) || m.msgType !== 'interactive') && replies;
      },
      { timeoutMs: 30_000 },
    );

  async function startRun(text = 'go') {
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const sent = await emulator.pushMessage({ chatId, text });
    await waitFor(() => agent.runs.length > 0 && agent.current, { timeoutMs: 5000 });
    return { chatId, messageId: sent.messageId, run: agent.current };
  }

  const command = (i: number, status: ToolCall['status']): AgentEvent => ({
    type: 'tool',
    tool: {
      kind: 'command',
      id: `c${i}`,
      status,
      command: `/bin/bash -lc 'step ${i}'`,
      output: status === 'completed' ? `output of step ${i}\n`.repeat(8) : '',
      ...(status === 'completed' ? { exitCode: 0 } : {}),
    },
  });

  it('rolls a run with 300 tool calls and 100 KB of text over cleanly, with 0 limit violations', async () => {
    await start();
    const { chatId, messageId, run } = await startRun();
    const paragraphs: string[] = [];
    for (let i = 0; i < 300; i++) {
      run.push(command(i, 'started'));
      run.push(command(i, 'completed'));
      if (i % 3 === 0) {
        // ~100 KB over the run, as text deltas of one growing message every third tool call.
        const paragraph = `Note ${i}: ${'progress and findings '.repeat(48)}\n\n`;
        paragraphs.push(paragraph.trim());
        run.push({ type: 'text', itemId: `m${Math.floor(i / 30)}`, text: paragraph, mode: 'delta' });
      }
      if (i % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(paragraphs.join('\n\n').length).toBeGreaterThan(100_000);
    run.finish();

    const cards = await finished(chatId, messageId);
    expect(cards.length).toBeGreaterThan(5);
    expect(cards.every((c) => c.msgType === 'interactive')).toBe(true);
    for (const card of cards.slice(0, -1)) expect(card.text).toContain('continued ↓');
    expect(cards.at(-1)!.text).toContain('✅ Done');
    const everything = cards.map((c) => c.text).join('\n');
    for (let i = 0; i < 300; i++) expect(everything).toContain(`step ${i}\``);
    for (const paragraph of paragraphs) expect(everything).toContain(paragraph);
    // Every card entity ended with streaming off (a sealed or final card).
    for (const card of Object.values(emulator.cards)) expect(card.streamingMode).toBe(false);
    expect(emulator.violations).toEqual([]);
  }, 60_000);

  it('streams the answer into the card as it is written (element content, typewriter)', async () => {
    await start();
    const { chatId, messageId, run } = await startRun();
    for (let i = 0; i < 30; i++) {
      run.push({ type: 'text', itemId: 'answer', text: `word${i} `, mode: 'delta' });
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    const contentCalls = () =>
      emulator.callsTo('PUT', /\/elements\/[^/]+\/content$/).filter((c) => c.status === 200);
    await waitFor(() => contentCalls().length >= 2, { timeoutMs: 5000 });
    const live = botReplies(chatId, messageId)[0]!;
    expect(live.text).toContain('word0');
    expect(live.text).not.toMatch(FINAL_HEADER);
    run.finish();
    const [card] = await finished(chatId, messageId);
    expect(card!.text).toContain('word29');
    expect(emulator.violations).toEqual([]);
  });

  it('reacts to the message at once and swaps the reaction for the outcome', async () => {
    await start();
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const sent = await emulator.pushMessage({ chatId, text: 'react please' });
    const onIt = await waitFor(
      () =>
        emulator
          .messages(chatId)
          .find((m) => m.messageId === sent.messageId)
          ?.reactions.find((r) => r.emoji === 'OnIt'),
      { timeoutMs: 2000 },
    );
    const received = emulator.acks.find((a) => a.eventId === sent.eventId);
    const receivedAt = received ? received.at - received.latencyMs : undefined;
    expect(receivedAt).toBeDefined();
    // First visible signal: within 50 ms of the event reaching larkcode.
    expect(onIt.actionTime - receivedAt!).toBeLessThan(50);
    await waitFor(() => agent.runs.length > 0, { timeoutMs: 5000 });
    agent.current.push({ type: 'text', itemId: 'm', text: 'done', mode: 'whole' });
    agent.current.finish();
    await finished(chatId, sent.messageId);
    const reactions = await waitFor(
      () => {
        const list = emulator.messages(chatId).find((m) => m.messageId === sent.messageId)!.reactions;
        return list.some((r) => r.emoji === 'DONE') && list;
      },
      { timeoutMs: 3000 },
    );
    expect(reactions.map((r) => r.emoji)).toEqual(['DONE']);
  });

  it('keeps streaming past Feishu’s 10-minute streaming window by turning streaming on again', async () => {
    await start({ streamingTimeoutMs: 1500, cardStreamingRefreshMs: 700 });
    const { chatId, messageId, run } = await startRun();
    for (let i = 0; i < 40; i++) {
      run.push({ type: 'text', itemId: 'answer', text: `chunk${i} `, mode: 'delta' });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    run.finish();
    const [card] = await finished(chatId, messageId);
    expect(card!.text).toContain('chunk39');
    const turnedOn = emulator
      .callsTo('PATCH', /\/cardkit\/v1\/cards\/[^/]+\/settings$/)
      .filter((c) => c.status === 200);
    expect(turnedOn.length, 'streaming re-enabled at least twice, then turned off').toBeGreaterThanOrEqual(3);
    expect(emulator.violations).toEqual([]);
  });

  it('recovers when Feishu closed the stream anyway (200850): on again, nothing lost', async () => {
    await start({ streamingTimeoutMs: 800 });
    const { chatId, messageId, run } = await startRun();
    for (let i = 0; i < 25; i++) {
      run.push({ type: 'text', itemId: 'answer', text: `part${i} `, mode: 'delta' });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    run.finish();
    const [card] = await finished(chatId, messageId);
    expect(card!.text).toContain('part0');
    expect(card!.text).toContain('part24');
    expect(emulator.violations.length).toBeGreaterThan(0);
    expect(emulator.violations.every((v) => v.kind === 'streaming_timeout')).toBe(true);
  });

  it('continues on a new card when its card expired (200750), instead of retrying it forever', async () => {
    await start();
    const { chatId, messageId, run } = await startRun();
    run.push({ type: 'text', itemId: 'answer', text: 'first part ', mode: 'delta' });
    await waitFor(() => botReplies(chatId, messageId).length === 1, { timeoutMs: 5000 });
    emulator.failApi({
      path: /\/cardkit\/v1\/cards\/[^/]+(\/elements\/[^/]+\/content)?$/,
      status: 400,
      code: 200750,
      times: 1,
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    run.push({ type: 'text', itemId: 'answer', text: 'second part', mode: 'delta' });
    run.finish();
    const cards = await finished(chatId, messageId);
    expect(cards).toHaveLength(2);
    expect(cards[1]!.text).toContain('first part second part');
    expect(cards[1]!.text).toContain('✅ Done');
  });

  it('falls back to PATCHed interactive cards when CardKit is unavailable, at most one PATCH per 1.5 s', async () => {
    await start();
    emulator.failApi({
      method: 'POST',
      path: /\/cardkit\/v1\/cards$/,
      status: 400,
      code: 99991672,
      times: -1,
    });
    const { chatId, messageId, run } = await startRun();
    for (let i = 0; i < 30; i++) {
      run.push({ type: 'text', itemId: 'answer', text: `piece${i} `, mode: 'delta' });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    run.finish();
    const [card, ...rest] = await finished(chatId, messageId);
    expect(rest).toHaveLength(0);
    expect(card!.msgType).toBe('interactive');
    expect(card!.text).toContain('piece29');
    expect(card!.text).toContain('✅ Done');
    const patches = emulator.callsTo('PATCH', /\/im\/v1\/messages\/om_/);
    expect(patches.length).toBeGreaterThanOrEqual(1);
    for (let i = 1; i < patches.length; i++) {
      expect(patches[i]!.at - patches[i - 1]!.at).toBeGreaterThanOrEqual(1450);
    }
    // The next run does not try CardKit again first: it is known to be unavailable for now.
    const creates = emulator.callsTo('POST', /\/cardkit\/v1\/cards$/).length;
    const second = await emulator.pushMessage({ chatId, text: 'again' });
    await waitFor(() => agent.runs.length > 1, { timeoutMs: 5000 });
    agent.current.push({ type: 'text', itemId: 'm', text: 'second answer', mode: 'whole' });
    agent.current.finish();
    const [secondCard] = await finished(chatId, second.messageId);
    expect(secondCard!.text).toContain('second answer');
    expect(emulator.callsTo('POST', /\/cardkit\/v1\/cards$/)).toHaveLength(creates);
    expect(emulator.violations).toEqual([]);
  });

  it('falls back to [i/n] markdown messages when no card can be used, and the whole answer lands', async () => {
    await start();
    emulator.failApi({
      method: 'POST',
      path: /\/cardkit\/v1\/cards$/,
      status: 400,
      code: 99991672,
      times: -1,
    });
    // The interactive card is refused too (the run's first reply).
    emulator.failApi({
      method: 'POST',
      path: /\/reply$/,
      status: 400,
      code: 230099,
      msg: 'ErrCode: 11310',
      times: 1,
    });
    const { chatId, messageId, run } = await startRun();
    const paragraphs = Array.from({ length: 12 }, (_, i) => `Paragraph ${i}: ${'text '.repeat(120)}`.trim());
    run.push({ type: 'text', itemId: 'answer', text: paragraphs.join('\n\n'), mode: 'whole' });
    run.finish();
    const posts = await waitFor(
      () => {
        const replies = botReplies(chatId, messageId).filter((m) => m.msgType === 'post');
        const total = Number(/\[\d+\/(\d+)\]/.exec(replies[0]?.text ?? '')?.[1]);
        return replies.length > 0 && replies.length === total && replies;
      },
      { timeoutMs: 10_000 },
    );
    expect(posts.length).toBeGreaterThan(1);
    const joined = posts.map((p) => p.text).join('\n');
    expect(joined).toContain('[completed]');
    for (const paragraph of paragraphs) expect(joined).toContain(paragraph);
  });

  it('answers in the topic thread', async () => {
    await start();
    const { chatId } = emulator.createChat({ mode: 'topic' });
    const sent = await emulator.pushMessage({
      chatId,
      text: 'in a topic',
      senderOpenId: DEFAULT_USER_OPEN_ID,
      mentionBot: true,
    });
    await waitFor(() => agent.runs.length > 0, { timeoutMs: 5000 });
    agent.current.push({ type: 'text', itemId: 'm', text: 'topic answer', mode: 'whole' });
    agent.current.finish();
    const card = await waitFor(
      () => emulator.view(chatId).find((m) => m.from === 'bot' && FINAL_HEADER.test(m.text)),
      { timeoutMs: 5000 },
    );
    expect(card.threadId).toBeTruthy();
    expect(card.threadId).toBe(sent.threadId);
    expect(card.text).toContain('topic answer');
  });
});
