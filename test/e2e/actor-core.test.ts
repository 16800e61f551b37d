import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { showsOutcome } from '../support/cards.js';
import { type FeishuEmulator, waitFor } from '../support/feishu-emulator/index.js';
import { type CodexStack, type InProcessLarkcode, startCodexStack } from '../support/larkcode-harness.js';
import { type MockModel, reply } from '../support/mock-model/index.js';
import { codexProcessesFor } from '../support/process-tree.js';

/** The actor core through the real node-sdk (emulator) and the real codex binary (mock model). */
describe('actor core end to end', () => {
  let emulator: FeishuEmulator;
  let mock: MockModel;
  let larkcode: InProcessLarkcode;
  let stack: CodexStack;

  beforeAll(async () => {
    stack = await startCodexStack({
      config: { runs: { debounceMs: 800 } },
    });
    ({ emulator, mock, larkcode } = stack);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const cards = (chatId: string) =>
    emulator.view(chatId).filter((m) => m.from === 'bot' && m.msgType === 'interactive');
  const outcomeFor = (chatId: string, messageId: string) =>
    waitFor(
      () =>
        emulator.view(chatId).find((m) => m.from === 'bot' && m.parentId === messageId && showsOutcome(m)),
      {
        timeoutMs: 20_000,
      },
    );
  const codexHome = () => join(larkcode.home, 'state', 'codex-home');

  it('turns three quick messages into one run, in arrival order', async () => {
    mock.enqueue(reply.message('all three handled'));
    const chat = emulator.createChat({ mode: 'p2p' });
    const before = mock.requests.length;
    await emulator.pushMessage({ chatId: chat.chatId, text: 'first: read the README' });
    await emulator.pushMessage({ chatId: chat.chatId, text: 'second: then list the tests' });
    const third = await emulator.pushMessage({ chatId: chat.chatId, text: 'third: and summarise' });
    const card = await outcomeFor(chat.chatId, third.messageId);
    expect(card.text).toContain('all three handled');
    expect(mock.requests.length - before).toBe(1);
    const prompt = mock.requests[before]!.lastUserText ?? '';
    expect(prompt.indexOf('first')).toBeLessThan(prompt.indexOf('second'));
    expect(prompt.indexOf('second')).toBeLessThan(prompt.indexOf('third'));
    expect(cards(chat.chatId)).toHaveLength(1);
  });

  it('runs a message that arrives during a run as the next run', async () => {
    mock.enqueue(reply.slow(2500, reply.message('first run done')), reply.message('second run done'));
    const chat = emulator.createChat({ mode: 'p2p' });
    const before = mock.requests.length;
    const first = await emulator.pushMessage({ chatId: chat.chatId, text: 'a long task' });
    await mock.waitForRequests(before + 1);
    const second = await emulator.pushMessage({ chatId: chat.chatId, text: 'and then this' });
    expect((await outcomeFor(chat.chatId, first.messageId)).text).toContain('first run done');
    expect((await outcomeFor(chat.chatId, second.messageId)).text).toContain('second run done');
    expect(mock.requests.length - before).toBe(2);
    expect(mock.requests[before + 1]!.lastUserText).toContain('and then this');
    expect(mock.requests[before + 1]!.lastUserText).not.toContain('a long task');
  });

  it('/stop kills the running codex process, keeps the queue, and the card says interrupted', async () => {
    mock.enqueue(reply.hang());
    const chat = emulator.createChat({ mode: 'p2p' });
    const before = mock.requests.length;
    const running = await emulator.pushMessage({ chatId: chat.chatId, text: 'work forever' });
    await mock.waitForRequests(before + 1);
    expect(codexProcessesFor(codexHome()).length).toBeGreaterThan(0);
    const queued = await emulator.pushMessage({ chatId: chat.chatId, text: 'queued while running' });
    const stop = await emulator.pushMessage({ chatId: chat.chatId, text: '/stop' });
    const card = await outcomeFor(chat.chatId, running.messageId);
    expect(card.text).toContain('Interrupted');
    await waitFor(() => codexProcessesFor(codexHome()).length === 0, { timeoutMs: 2000 });
    const notice = await waitFor(() =>
      emulator
        .view(chat.chatId)
        .find((m) => m.from === 'bot' && m.msgType === 'text' && /Stopped/.test(m.text)),
    );
    expect(notice.text).toMatch(/1 queued message kept/);
    expect(stop.messageId).toBeTruthy();
    // The kept message runs together with the next one.
    mock.enqueue(reply.message('kept and new handled'));
    const next = await emulator.pushMessage({ chatId: chat.chatId, text: 'now go on' });
    expect((await outcomeFor(chat.chatId, next.messageId)).text).toContain('kept and new handled');
    const prompt = mock.requests.at(-1)!.lastUserText ?? '';
    expect(prompt).toContain('queued while running');
    expect(prompt).toContain('now go on');
    expect(queued.messageId).toBeTruthy();
  });

  it('!text stops the run and runs the text next', async () => {
    mock.enqueue(reply.hang(), reply.message('steered'));
    const chat = emulator.createChat({ mode: 'p2p' });
    const before = mock.requests.length;
    const running = await emulator.pushMessage({ chatId: chat.chatId, text: 'do the wrong thing' });
    await mock.waitForRequests(before + 1);
    const steer = await emulator.pushMessage({ chatId: chat.chatId, text: '!do the right thing instead' });
    expect((await outcomeFor(chat.chatId, running.messageId)).text).toContain('Interrupted');
    expect((await outcomeFor(chat.chatId, steer.messageId)).text).toContain('steered');
    expect(mock.requests.at(-1)!.lastUserText).toContain('do the right thing instead');
  });
});

describe('global run pool end to end', () => {
  let emulator: FeishuEmulator;
  let mock: MockModel;
  let stack: CodexStack;

  beforeAll(async () => {
    stack = await startCodexStack({
      config: { runs: { debounceMs: 50, maxConcurrent: 1 } },
    });
    ({ emulator, mock } = stack);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('makes a run wait for a free slot, shows its position, and starts it when the slot frees', async () => {
    mock.enqueue(reply.hang(), reply.message('second chat answered'));
    const busy = emulator.createChat({ mode: 'p2p' });
    const waiting = emulator.createChat({ mode: 'p2p' });
    const first = await emulator.pushMessage({ chatId: busy.chatId, text: 'hold the only slot' });
    await mock.waitForRequests(1);
    const second = await emulator.pushMessage({ chatId: waiting.chatId, text: 'wait your turn' });
    const queuedCard = await waitFor(
      () =>
        emulator
          .view(waiting.chatId)
          .find((m) => m.parentId === second.messageId && /free slot/.test(m.text)),
      { timeoutMs: 10_000 },
    );
    expect(queuedCard.text).toContain('Waiting for a free slot (position 1)');
    expect(mock.requests).toHaveLength(1);
    await emulator.pushMessage({ chatId: busy.chatId, text: '/stop' });
    const done = await waitFor(
      () => emulator.view(waiting.chatId).find((m) => m.parentId === second.messageId && showsOutcome(m)),
      { timeoutMs: 20_000 },
    );
    expect(done.text).toContain('second chat answered');
    expect(first.messageId).toBeTruthy();
  });
});
