import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor, createMachine } from 'xstate';
import { createRunnerLogic, type RunnerEvent } from '../../machines/runner.js';
import { ScriptedAgent } from '../support/scripted-agent.js';

function startRunner(batchTextMs: number) {
  const agent = new ScriptedAgent();
  const received: RunnerEvent[] = [];
  const parent = createMachine({
    invoke: {
      src: createRunnerLogic({ agent, now: () => Date.now(), batchTextMs }),
      input: {
        runId: 'r1',
        scopeId: 's',
        prompt: 'p',
        workspace: '/w',
        sandbox: 'workspace-write',
        networkAccess: false,
      },
    },
    on: { '*': { actions: ({ event }) => received.push(event as RunnerEvent) } },
  });
  createActor(parent).start();
  return {
    agent,
    received,
    texts: () =>
      received.flatMap((e) => (e.type === 'runner.event' && e.event.type === 'text' ? [e.event.text] : [])),
  };
}

describe('runner text batching', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('merges deltas of one item inside the window, keeping order with other events', async () => {
    const { agent, received, texts } = startRunner(250);
    await vi.advanceTimersByTimeAsync(0);
    const run = agent.current;
    for (const part of ['Hel', 'lo', ', ', 'world'])
      run.push({ type: 'text', itemId: 'm', text: part, mode: 'delta' });
    await vi.advanceTimersByTimeAsync(0);
    expect(texts()).toEqual([]);
    run.push({ type: 'tool', tool: { kind: 'web_search', id: 't', status: 'started', query: 'q' } });
    await vi.advanceTimersByTimeAsync(0);
    expect(texts()).toEqual(['Hello, world']);
    expect(received.map((e) => (e.type === 'runner.event' ? e.event.type : e.type))).toEqual([
      'run.started',
      'text',
      'tool',
    ]);
    run.push({ type: 'text', itemId: 'm2', text: 'more', mode: 'delta' });
    await vi.advanceTimersByTimeAsync(249);
    expect(texts()).toEqual(['Hello, world']);
    await vi.advanceTimersByTimeAsync(1);
    expect(texts()).toEqual(['Hello, world', 'more']);
  });

  it('flushes pending text before the run ends, even when it fails', async () => {
    const { agent, received, texts } = startRunner(1000);
    await vi.advanceTimersByTimeAsync(0);
    agent.current.push({ type: 'text', itemId: 'm', text: 'last words', mode: 'delta' });
    agent.current.crash(new Error('boom'));
    await vi.advanceTimersByTimeAsync(0);
    expect(texts()).toEqual(['last words']);
    expect(received.at(-1)).toMatchObject({ type: 'run.finished', outcome: 'failed' });
  });

  it('sends every delta as it comes when batching is off', async () => {
    const { agent, texts } = startRunner(0);
    await vi.advanceTimersByTimeAsync(0);
    agent.current.push({ type: 'text', itemId: 'm', text: 'a', mode: 'delta' });
    agent.current.push({ type: 'text', itemId: 'm', text: 'b', mode: 'delta' });
    await vi.advanceTimersByTimeAsync(0);
    expect(texts()).toEqual(['a', 'b']);
  });
});
