import { expect, vi } from 'vitest';
import { type Actor, type AnyMachineSnapshot, createActor, fromPromise, type SnapshotFrom } from 'xstate';
import { TestModel } from 'xstate/graph';
import {
  type CardRef,
  type FlushFailure,
  type FlushRequest,
  type FlushResult,
  type RendererInput,
  rendererMachine,
} from '../../machines/renderer.machine.js';
import type { RenderUpdate } from '../../machines/scope.machine.js';
import { initialRunView, type RunView, reduceRunView } from '../../src/cards/run-view.js';
import type { MessageInput } from '../../src/core/bridge-input.js';
import type { TransitionCoverage } from '../support/mbt/coverage.js';
import { TEST_SCOPE_SETTINGS } from '../support/scope-fixtures.js';

export const RUN_ID = 'r-model-1';
export const INPUT: RendererInput = { runId: RUN_ID, flushIntervalMs: 1_000 };
/** The card the scripted sink "creates" on a run's first successful write. */
export const NEW_CARD: CardRef = { messageId: 'om_card_new' };

/** Extra seeds so every transition is taken: a restored card, and a sink that gives up at once. */
export const SEEDS: Record<string, RendererInput> = {
  'restored card': { ...INPUT, cardRef: { messageId: 'om_card_restored' } },
  'maxFailures 1': { ...INPUT, maxFailures: 1 },
};

/**
 * Simple paths grow factorially with the graph: they run on a restored card (no first-write
 * branch) that gives up after two failures, with a reduced event set ({@link simpleModelEvents}).
 */
export const SIMPLE_INPUT: RendererInput = { ...SEEDS['restored card']!, maxFailures: 2 };

/** The invoke's id, as XState names it (no explicit id on the invoke): used for done/error event types. */
const INVOKE_ID = (
  rendererMachine.root as unknown as { states: Record<string, { invoke: { id: string }[] }> }
).states.flushing!.invoke[0]!.id;
export const FLUSH_DONE = `xstate.done.actor.${INVOKE_ID}`;
export const FLUSH_ERROR = `xstate.error.actor.${INVOKE_ID}`;
const DELAYED = {
  flushInterval: 'xstate.after.flushInterval.renderer.cooling',
  retryDelay: 'xstate.after.retryDelay.renderer.backingOff',
} as const;

export const SETTINGS = TEST_SCOPE_SETTINGS;

export function message(messageId: string, text: string): MessageInput {
  return {
    kind: 'message',
    scopeId: 'chat:oc_render',
    messageId,
    actorId: 'ou_owner',
    chat: { chatId: 'oc_render', chatType: 'p2p' },
    text,
    receivedAt: 0,
  };
}

/** One update of each kind (the model's render events). */
export const UPDATES: Record<RenderUpdate['type'], RenderUpdate> = {
  'render.open': {
    type: 'render.open',
    scopeId: 'chat:oc_render',
    inputs: [message('om_1', 'hello')],
    settings: SETTINGS,
  },
  'render.waiting': { type: 'render.waiting', position: 2 },
  'render.started': { type: 'render.started', at: 1 },
  'render.agent': {
    type: 'render.agent',
    event: { type: 'text', itemId: 'a', text: 'x', mode: 'delta' },
    at: 2,
  },
  'render.inputs': { type: 'render.inputs', inputs: [message('om_1', 'hello'), message('om_2', 'more')] },
  'render.finish': { type: 'render.finish', outcome: 'completed', at: 3 },
};

export const FAILURES: Record<string, FlushFailure> = {
  rate_limited: { kind: 'rate_limited', retryAfterMs: 300, message: 'HTTP 429' },
  'rate_limited (no reset header)': { kind: 'rate_limited', message: 'code 230020' },
  failed: { kind: 'failed', message: 'card rejected' },
};

type RendererSnapshot = SnapshotFrom<typeof rendererMachine>;

/** The request of the flush a snapshot has in flight (the model's child is never started; its input is there). */
function inflightRequest(snapshot: AnyMachineSnapshot): FlushRequest | undefined {
  const child = (
    snapshot.children as Record<string, { getSnapshot(): { input?: FlushRequest } } | undefined>
  )[INVOKE_ID];
  return child?.getSnapshot().input;
}

/**
 * The model's view of a renderer: its state plus what decides the guards — unsaved
 * changes, changes since the write in flight, finished, a card exists, failures in a row.
 */
export function abstractState(snapshot: AnyMachineSnapshot): string {
  const { context } = snapshot as RendererSnapshot;
  const inflight = snapshot.value === 'flushing' ? inflightRequest(snapshot) : undefined;
  return JSON.stringify({
    value: snapshot.value,
    dirty: context.version > context.flushedVersion,
    ...(inflight ? { stale: inflight.version < context.version } : {}),
    finished: context.view.stage === 'finished',
    hasCard: Boolean(context.cardRef?.messageId),
    // The count only matters against maxFailures (a live run never gives up, so it can grow).
    failures: Math.min(context.consecutiveFailures, context.maxFailures),
  });
}

/** Every event the model may try; only those the snapshot can take are offered. */
export function modelEvents(snapshot: AnyMachineSnapshot): { type: string }[] {
  const request = inflightRequest(snapshot);
  const candidates: { type: string }[] = [
    ...Object.values(UPDATES),
    ...(request
      ? [
          {
            type: FLUSH_DONE,
            output: { cardRef: request.cardRef ?? NEW_CARD, version: request.version } satisfies FlushResult,
          } as { type: string },
          ...Object.values(FAILURES).map((error) => ({ type: FLUSH_ERROR, error }) as { type: string }),
        ]
      : []),
    ...Object.values(DELAYED).map((type) => ({ type })),
  ];
  return candidates.filter((event) => snapshot.can(event as never));
}

export function eventLabel(event: { type: string } | undefined): string {
  if (!event) return 'init';
  if (event.type === FLUSH_DONE) return 'flush ok';
  if (event.type === FLUSH_ERROR) {
    const error = (event as unknown as { error: FlushFailure }).error;
    return `flush ${error.kind}${error.retryAfterMs === undefined ? '' : ` ${error.retryAfterMs}ms`}`;
  }
  if (event.type.startsWith('xstate.after.')) return event.type.split('.')[2]!;
  return event.type;
}

/**
 * @param granularity 'transitions': a vertex per (state, incoming edge) — shortest paths then
 *   cover every transition. 'states': a vertex per coarse state (value, finished) — simple
 *   paths walk every loop-free sequence of those.
 */
export function createRendererModel(
  granularity: 'transitions' | 'states' = 'transitions',
  input: RendererInput = INPUT,
) {
  return new TestModel(rendererMachine as never, {
    input,
    events: (granularity === 'states' ? simpleModelEvents : modelEvents) as never,
    serializeState: ((
      state: AnyMachineSnapshot,
      event: { type: string } | undefined,
      prev?: AnyMachineSnapshot,
    ) =>
      granularity === 'states'
        ? abstractState(state)
        : `${abstractState(state)} via ${eventLabel(event)} from ${prev ? abstractState(prev) : '-'}`) as never,
  });
}

/** For simple paths: one kind of live update, the finish, and one failure of each kind. */
function simpleModelEvents(snapshot: AnyMachineSnapshot): { type: string }[] {
  return modelEvents(snapshot).filter((event) => {
    if (event.type.startsWith('render.'))
      return event.type === 'render.agent' || event.type === 'render.finish';
    if (event.type === FLUSH_ERROR)
      return (event as unknown as { error: FlushFailure }).error.retryAfterMs !== 300;
    return true;
  });
}

/** One write the scripted sink received; the test settles it. */
export interface ScriptedFlush {
  request: FlushRequest;
  startedAt: number;
  /** What the harness had folded when the write started (independent of the machine). */
  expectedVersion: number;
  expectedView: RunView;
  settled?: { at: number; ok: true } | { at: number; ok: false; failure: FlushFailure };
  resolve(result: FlushResult): void;
  reject(failure: FlushFailure): void;
}

export interface RendererSut {
  actor: Actor<typeof rendererMachine>;
  input: RendererInput;
  flushes: ScriptedFlush[];
  /** Every update sent, in order, and their fold. */
  updates: RenderUpdate[];
  folded: RunView;
  /** Updates that counted: a finished view ignores everything after the finish. */
  version: number;
  gaveUp: { runId: string; reason: string }[];
  /** Problems seen inside callbacks, asserted at the next check. */
  problems: string[];
  inflight(): ScriptedFlush[];
  send(update: RenderUpdate): Promise<void>;
  succeed(): Promise<void>;
  fail(failure: FlushFailure): Promise<void>;
  settle(): Promise<void>;
}

export function createRendererSut(coverage?: TransitionCoverage, input: RendererInput = INPUT): RendererSut {
  const settle = () => vi.advanceTimersByTimeAsync(0).then(() => {});
  const sut = {} as RendererSut;
  const flushes: ScriptedFlush[] = [];
  const machine = rendererMachine.provide({
    actors: {
      flushCard: fromPromise<FlushResult, FlushRequest>(
        ({ input: request }) =>
          new Promise<FlushResult>((resolve, reject) => {
            const flush: ScriptedFlush = {
              request: structuredClone(request),
              startedAt: Date.now(),
              expectedVersion: sut.version,
              expectedView: structuredClone(sut.folded),
              resolve: (result) => {
                flush.settled = { at: Date.now(), ok: true };
                resolve(result);
              },
              reject: (failure) => {
                flush.settled = { at: Date.now(), ok: false, failure };
                reject(failure);
              },
            };
            if (sut.inflight().length > 0) sut.problems.push('a flush started while another was in flight');
            flushes.push(flush);
          }),
      ),
    },
    actions: {
      reportGaveUp: (_, params) => void sut.gaveUp.push(params),
    },
  });
  const actor: Actor<typeof rendererMachine> = createActor(machine, {
    input,
    ...(coverage ? { inspect: coverage.observer((e) => e.actorRef === actor) } : {}),
  });
  Object.assign(sut, {
    actor,
    input,
    flushes,
    updates: [],
    folded: initialRunView(input.runId),
    version: 0,
    gaveUp: [],
    problems: [],
    inflight: () => flushes.filter((f) => !f.settled),
    send: async (update: RenderUpdate) => {
      sut.updates.push(update);
      if (sut.folded.stage !== 'finished') sut.version += 1;
      sut.folded = reduceRunView(sut.folded, update);
      // A finished renderer takes nothing more (XState would warn about each event).
      if (actor.getSnapshot().status === 'active') actor.send(update);
      await settle();
    },
    succeed: async () => {
      const [flush] = sut.inflight();
      if (!flush) throw new Error('no flush in flight');
      flush.resolve({ cardRef: flush.request.cardRef ?? NEW_CARD, version: flush.request.version });
      await settle();
    },
    fail: async (failure: FlushFailure) => {
      const [flush] = sut.inflight();
      if (!flush) throw new Error('no flush in flight');
      flush.reject(failure);
      await settle();
    },
    settle,
  } satisfies Partial<RendererSut>);
  actor.start();
  return sut;
}

/** Advance fake time to just before a delay, check nothing fired, then cross it. */
async function crossDelay(sut: RendererSut, ms: number) {
  const before = abstractState(sut.actor.getSnapshot());
  const flushes = sut.flushes.length;
  await vi.advanceTimersByTimeAsync(ms - 1);
  expect(abstractState(sut.actor.getSnapshot()), 'fired early').toBe(before);
  expect(sut.flushes.length, 'wrote early').toBe(flushes);
  await vi.advanceTimersByTimeAsync(1);
}

/** Model event → the real stimulus that produces it. */
export function eventExecutors(sut: RendererSut) {
  const context = () => sut.actor.getSnapshot().context;
  const executors: Record<string, (step: { event: { type: string } }) => Promise<void>> = {
    [FLUSH_DONE]: () => sut.succeed(),
    [FLUSH_ERROR]: ({ event }) => sut.fail((event as unknown as { error: FlushFailure }).error),
    [DELAYED.flushInterval]: () => crossDelay(sut, context().flushIntervalMs),
    [DELAYED.retryDelay]: () => crossDelay(sut, context().retryDelayMs),
  };
  for (const type of Object.keys(UPDATES))
    executors[type] = ({ event }) => sut.send(structuredClone(event) as RenderUpdate);
  return executors;
}

/** Spec-level invariants checked after every step, whatever the path. */
export function assertInvariants(sut: RendererSut, modelState?: AnyMachineSnapshot) {
  const snapshot = sut.actor.getSnapshot();
  if (modelState) expect(abstractState(snapshot)).toBe(abstractState(modelState));
  expect(sut.problems).toEqual([]);
  expect(snapshot.status, 'the renderer never crashes').not.toBe('error');
  const inflight = sut.inflight();
  expect(inflight.length, 'at most one write in flight').toBeLessThanOrEqual(1);
  expect(inflight.length === 1, 'a write is in flight exactly while flushing').toBe(
    snapshot.matches('flushing'),
  );
  // Every write carried the latest fold at the moment it started.
  for (const flush of sut.flushes) {
    expect(flush.request.version, 'a write carries the latest version').toBe(flush.expectedVersion);
    expect(flush.request.view, 'a write carries the latest view').toEqual(flush.expectedView);
  }
  // After the first successful write, every later write goes to that card (or a restored one from the start).
  const firstOk = sut.flushes.findIndex((f) => f.settled?.ok);
  for (const [index, flush] of sut.flushes.entries()) {
    if (sut.input.cardRef) expect(flush.request.cardRef).toEqual(sut.input.cardRef);
    else if (firstOk >= 0 && index > firstOk) expect(flush.request.cardRef).toEqual(NEW_CARD);
    else expect(flush.request.cardRef).toBeUndefined();
  }
  // Resting means nothing is left unwritten (the trailing edge was not lost).
  if (snapshot.matches('ready'))
    expect(snapshot.context.flushedVersion, 'ready ⇒ all written').toBe(sut.version);
  // A finished run is written at once: it never waits out the interval.
  if (sut.folded.stage === 'finished' && snapshot.status === 'active')
    expect(['flushing', 'backingOff'], 'finished ⇒ writing (or backing off)').toContain(snapshot.value);
  const lastOk = sut.flushes.filter((f) => f.settled?.ok).at(-1);
  expect(snapshot.context.flushedVersion).toBe(lastOk?.request.version ?? 0);
  if (snapshot.status === 'done') {
    if (sut.gaveUp.length > 0) {
      expect(sut.gaveUp, 'gave up once').toHaveLength(1);
      const maxFailures = sut.input.maxFailures ?? 5;
      const tail = sut.flushes.filter(
        (f) => f.settled && !(f.settled.ok === false && f.settled.failure.kind === 'rate_limited'),
      );
      expect(
        tail.slice(-maxFailures).every((f) => f.settled?.ok === false),
        `gave up only after ${maxFailures} failures in a row`,
      ).toBe(true);
    } else {
      expect(sut.folded.stage, 'done only for a finished run').toBe('finished');
      expect(lastOk?.request.version, 'done only once the final version landed').toBe(sut.version);
      expect(lastOk?.request.view).toEqual(sut.folded);
    }
  } else {
    expect(sut.gaveUp, 'gave up ⇒ done').toEqual([]);
  }
}
