import { afterAll, describe, expect, it } from 'vitest';
import { type AnyMachineSnapshot, assign, createActor, setup } from 'xstate';
import { TestModel } from 'xstate/graph';
import type { ScopeSeed } from '../../machines/scope.machine.js';
import { type SupervisorEvent, supervisorMachine } from '../../machines/supervisor.machine.js';
import type { MessageInput } from '../../src/core/bridge-input.js';
import { TransitionCoverage } from '../support/mbt/coverage.js';
import { forTraversal } from '../support/mbt/pure-logic.js';
import { SETTINGS } from './scope.harness.js';

/**
 * Model-based tests of the supervisor itself: routing and spawning, the global run
 * pool, eviction and crash handling, shutdown. Scopes are stand-ins that record what
 * the supervisor sent them and can be told to finish (evicted) or crash; the real
 * scope's side of the pool is covered by the scope model and the end-to-end tests.
 */
const received = new Map<string, string[]>();

const stubScope = setup({
  types: {
    context: {} as { scopeId: string },
    input: {} as ScopeSeed,
    events: {} as { type: string },
  },
  actions: {
    record: ({ context, event }) => {
      const log = received.get(context.scopeId) ?? [];
      log.push(
        event.type === 'pool.position'
          ? `pool.position:${(event as { position?: number }).position}`
          : event.type,
      );
      received.set(context.scopeId, log);
    },
    crash: () => {
      throw new Error('scope crashed');
    },
  },
}).createMachine({
  context: ({ input }) => ({ scopeId: input.scopeId }),
  initial: 'alive',
  states: {
    alive: {
      on: {
        'test.finish': 'finished',
        'test.crash': { actions: 'crash' },
        'daemon.shutdown': { target: 'finished', actions: 'record' },
        '*': { actions: ['record', assign({})] },
      },
    },
    finished: { type: 'final' },
  },
});

function seed(scopeId: string): ScopeSeed {
  return { scopeId, settings: SETTINGS, runIdPrefix: 'r' };
}
function input(scopeId: string): MessageInput {
  return {
    kind: 'message',
    scopeId,
    messageId: `om_${scopeId}`,
    actorId: 'ou_a',
    chat: { chatId: scopeId, chatType: 'p2p' },
    text: 'hi',
    receivedAt: 0,
  };
}

function abstractState(snapshot: AnyMachineSnapshot): string {
  const context = snapshot.context as {
    runningScopes: string[];
    waitingScopes: string[];
    liveScopes: string[];
  };
  return JSON.stringify({
    value: snapshot.value,
    running: context.runningScopes,
    waiting: context.waitingScopes,
    live: [...context.liveScopes].sort(),
  });
}

function modelEvents(snapshot: AnyMachineSnapshot, full = true): SupervisorEvent[] {
  const children = (snapshot.context as { liveScopes: string[] }).liveScopes;
  const events: { type: string; [k: string]: unknown }[] = [
    {
      type: 'scope.deliver',
      scopeId: 'chat:a',
      event: { type: 'input.message', input: input('chat:a') },
      seed: seed('chat:a'),
    },
    {
      type: 'scope.deliver',
      scopeId: 'chat:b',
      event: { type: 'input.message', input: input('chat:b') },
      seed: seed('chat:b'),
    },
    ...(full ? [{ type: 'scope.restore', seed: seed('chat:c') }] : []),
    ...(['chat:a', 'chat:b'] as const).flatMap((scopeId) => [
      { type: 'pool.request', scopeId },
      { type: 'pool.release', scopeId },
    ]),
    // Real done/error events carry the actor id; the supervisor reads it.
    ...children.flatMap((id) => [
      { type: `xstate.done.actor.${id}`, actorId: id },
      { type: `xstate.error.actor.${id}`, actorId: id, error: new Error('crash') },
    ]),
    { type: 'daemon.shutdown', at: 0 },
  ];
  return events.filter((event) => snapshot.can(event as never)) as unknown as SupervisorEvent[];
}

function eventLabel(event: { type: string; [k: string]: unknown } | undefined): string {
  if (!event) return 'init';
  const scope = event.scopeId ?? (event.seed as ScopeSeed | undefined)?.scopeId ?? '';
  return `${event.type}${scope ? `:${scope}` : ''}`;
}

/**
 * 'transitions': every event, a vertex per (state, incoming edge) — shortest paths cover every
 * transition. 'states': two scopes, no restore or crash (same actions as done) — a sound
 * abstraction whose simple paths stay finite (199); with three scopes they explode.
 */
function createModel(granularity: 'transitions' | 'states') {
  return new TestModel(forTraversal(supervisorMachine) as never, {
    input: { maxConcurrentRuns: 1 },
    events: ((snapshot: AnyMachineSnapshot) => modelEvents(snapshot, granularity === 'transitions')) as never,
    serializeState: ((state: AnyMachineSnapshot, event: never, prev?: AnyMachineSnapshot) =>
      granularity === 'states'
        ? abstractState(state)
        : `${abstractState(state)} via ${eventLabel(event)} from ${prev ? abstractState(prev) : '-'}`) as never,
  });
}

const coverage = new TransitionCoverage(supervisorMachine);

function createSut() {
  received.clear();
  const machine = supervisorMachine.provide({ actors: { scope: stubScope as never } });
  const actor = createActor(machine, {
    input: { maxConcurrentRuns: 1 },
    systemId: 'supervisor',
    inspect: coverage.observer((e) => (e.actorRef as unknown as { logic: unknown }).logic === machine),
  });
  actor.start();
  return actor;
}

type Sut = ReturnType<typeof createSut>;

function executors(sut: Sut) {
  return new Proxy(
    {},
    {
      get(_target, type: string) {
        return async (step: { event: { type: string; [k: string]: unknown } }) => {
          const done = /^xstate\.done\.actor\.(.+)$/.exec(type);
          const error = /^xstate\.error\.actor\.(.+)$/.exec(type);
          const child = (id: string) =>
            sut.getSnapshot().children[id] as { send(e: { type: string }): void } | undefined;
          if (done) child(done[1]!)?.send({ type: 'test.finish' });
          else if (error) child(error[1]!)?.send({ type: 'test.crash' });
          else sut.send(step.event as unknown as SupervisorEvent);
        };
      },
    },
  );
}

/** The pool's promises, checked against what the stand-in scopes actually received. */
function assertStep(sut: Sut, model: AnyMachineSnapshot, view: (s: AnyMachineSnapshot) => string) {
  const snapshot = sut.getSnapshot();
  // Compare through the abstraction the model's vertices were keyed by (its representative
  // snapshot may differ in anything finer).
  expect(view(snapshot)).toBe(view(model));
  expect(snapshot.status).toBe('active');
  expect([...snapshot.context.liveScopes].sort(), 'live scopes are exactly the running children').toEqual(
    Object.keys(snapshot.children).sort(),
  );
  const { runningScopes, waitingScopes } = snapshot.context;
  expect(runningScopes.length, 'never more runs than the pool allows').toBeLessThanOrEqual(1);
  expect(new Set([...runningScopes, ...waitingScopes]).size, 'a scope is running or waiting, not both').toBe(
    runningScopes.length + waitingScopes.length,
  );
  for (const scopeId of runningScopes) {
    const log = received.get(scopeId) ?? [];
    if (snapshot.children[scopeId])
      expect(log, `${scopeId} holds a slot, so it was granted one`).toContain('pool.granted');
  }
  waitingScopes.forEach((scopeId, index) => {
    const log = received.get(scopeId) ?? [];
    if (snapshot.children[scopeId]) {
      const lastPosition = [...log].reverse().find((e) => e.startsWith('pool.position:'));
      expect(lastPosition, `${scopeId} knows its place in line`).toBe(`pool.position:${index + 1}`);
    }
  });
}

describe('supervisor machine, generated paths', () => {
  const run = async (
    path: { test(params: unknown): Promise<unknown> },
    view: (s: AnyMachineSnapshot) => string = abstractState,
  ) => {
    const sut = createSut();
    await path.test({
      events: executors(sut),
      states: { '*': (state: AnyMachineSnapshot) => assertStep(sut, state, view) },
    });
    sut.stop();
  };
  const shortest = createModel('transitions').getShortestPaths();
  const simple = createModel('states').getSimplePaths();
  describe.each(shortest.map((p) => [p.description, p] as const))('shortest: %s', (_d, path) => {
    it('holds at every step', () => run(path));
  });
  describe.each(simple.map((p) => [p.description, p] as const))('simple: %s', (_d, path) => {
    it('holds at every step', () => run(path));
  });

  it('delivers to a spawned scope, respawns an evicted one with its seed, and broadcasts shutdown', () => {
    const sut = createSut();
    sut.send({
      type: 'scope.deliver',
      scopeId: 'chat:a',
      event: { type: 'input.message', input: input('chat:a') },
      seed: seed('chat:a'),
    });
    expect(received.get('chat:a')).toEqual(['input.message']);
    (sut.getSnapshot().children['chat:a'] as { send(e: { type: string }): void }).send({
      type: 'test.finish',
    });
    expect(sut.getSnapshot().children['chat:a']).toBeUndefined();
    sut.send({
      type: 'scope.deliver',
      scopeId: 'chat:a',
      event: { type: 'input.message', input: input('chat:a') },
      seed: seed('chat:a'),
    });
    expect(sut.getSnapshot().children['chat:a']).toBeDefined();
    expect(received.get('chat:a')).toEqual(['input.message', 'input.message']);
    sut.send({ type: 'daemon.shutdown', at: 1 });
    expect(received.get('chat:a')?.at(-1)).toBe('daemon.shutdown');
    expect(sut.getSnapshot().matches('shuttingDown')).toBe(true);
  });
});

afterAll(() => {
  expect(
    coverage.missing(),
    `untaken supervisor transitions (${(coverage.ratio() * 100).toFixed(1)} %)`,
  ).toEqual([]);
});
