import { expect, vi } from 'vitest';
import { type Actor, type AnyMachineSnapshot, createActor, type SnapshotFrom } from 'xstate';
import { TestModel } from 'xstate/graph';
import { buildPrompt } from '../../machines/prompt.js';
import { createRunnerLogic } from '../../machines/runner.js';
import {
  type Notice,
  type RenderUpdate,
  type ScopeEvent,
  type ScopeFacts,
  type ScopeSeed,
  scopeMachine,
} from '../../machines/scope.machine.js';
import type { MessageInput } from '../../src/core/bridge-input.js';
import type { TransitionCoverage } from '../support/mbt/coverage.js';
import { TEST_SCOPE_SETTINGS } from '../support/scope-fixtures.js';
import { ScriptedAgent } from '../support/scripted-agent.js';

export const SETTINGS = TEST_SCOPE_SETTINGS;

/** Another policy, as /cd or an access change would set it (same timings). */
export const CONFIGURED = { ...TEST_SCOPE_SETTINGS, workspace: '/work/other', sandbox: 'read-only' as const };

export const SEED: ScopeSeed = { scopeId: 'chat:oc_model', settings: SETTINGS, runIdPrefix: 'r' };

/** A scope whose agent can steer: messages during a run go into the running turn. */
export const STEER_SEED: ScopeSeed = { ...SEED, settings: { ...SETTINGS, steerMidRun: true } };

const APPROVAL_PENDING = {
  type: 'approval',
  status: 'pending',
  request: {
    id: 'a1',
    kind: 'command',
    command: 'rm x',
    cwd: '/work/project',
    network: false,
    outsideSandbox: true,
  },
} as const;

const MODEL_INPUT: MessageInput = message('om_model', 'model message');

export function message(messageId: string, text: string): MessageInput {
  return {
    kind: 'message',
    scopeId: 'chat:oc_model',
    messageId,
    actorId: 'ou_owner',
    chat: { chatId: 'oc_model', chatType: 'p2p' },
    text,
    receivedAt: 0,
  };
}

type ScopeSnapshot = SnapshotFrom<typeof scopeMachine>;

/** The model's view of a scope: its state plus the two facts modes can't show. */
export function abstractState(snapshot: AnyMachineSnapshot): string {
  const { context } = snapshot as ScopeSnapshot;
  const run = context.activeRun ? (context.activeRun.handedToAgent ? 'handed' : 'preparing') : 'none';
  const steering = (context.activeRun?.steering?.length ?? 0) > 0;
  return JSON.stringify({ value: snapshot.value, pending: context.pendingInputs.length > 0, run, steering });
}

const DELAYED = {
  debounce: 'xstate.after.debounce.scope.debouncing',
  idleTimeout: 'xstate.after.idleTimeout.scope.running.active.watchdog.armed',
  runCap: 'xstate.after.runCap.scope.running.active',
  evictAfter: 'xstate.after.evictAfter.scope.idle',
} as const;
const STOP_GRACE = /^xstate\.after\.stopGrace\.scope\.running\.stopping\.\w+$/;

/** Every event the model may try; only those the snapshot can take are offered. */
export function modelEvents(snapshot: AnyMachineSnapshot): ScopeEvent[] {
  const { context } = snapshot as ScopeSnapshot;
  const runId = context.activeRun?.runId ?? 'no-run';
  const steeringId = context.activeRun?.steering?.[0]?.messageId ?? 'none';
  const candidates = [
    { type: 'run.steered', runId, messageId: steeringId },
    { type: 'run.steerRefused', runId, messageId: steeringId },
    { type: 'runner.event', runId, event: APPROVAL_PENDING, at: 0 },
    { type: 'input.message', input: MODEL_INPUT },
    { type: 'control.stop' },
    { type: 'control.steer', input: MODEL_INPUT },
    { type: 'control.new' },
    { type: 'control.timeout', seconds: 30 },
    { type: 'scope.configure', settings: CONFIGURED, sessionId: 'thread-configured', note: 'configured' },
    { type: 'pool.granted' },
    { type: 'pool.position', position: 2 },
    { type: 'run.started', runId, at: 0 },
    { type: 'runner.event', runId, event: { type: 'text', itemId: 'i', text: 'x', mode: 'delta' }, at: 0 },
    { type: 'runner.event', runId, event: { type: 'session', sessionId: 'thread-model' }, at: 0 },
    { type: 'run.finished', runId, outcome: 'completed', at: 0 },
    { type: 'daemon.shutdown', at: 0 },
    ...Object.values(DELAYED).map((type) => ({ type })),
    ...['byUser', 'forSteer', 'forReset', 'timedOut', 'capped'].map((s) => ({
      type: `xstate.after.stopGrace.scope.running.stopping.${s}`,
    })),
  ] as unknown as ScopeEvent[];
  return candidates.filter((event) => snapshot.can(event));
}

/**
 * @param granularity 'transitions': a vertex per (state, incoming edge) — shortest paths then
 *   cover every transition, self-loops included. 'states': a vertex per abstract state — simple
 *   paths then walk every loop-free sequence of states (transition-level simple paths explode).
 */
export function createScopeModel(
  granularity: 'transitions' | 'states' = 'transitions',
  seed: ScopeSeed = SEED,
) {
  return new TestModel(scopeMachine as never, {
    input: seed,
    events: modelEvents as never,
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

function eventLabel(event: { type: string } | undefined): string {
  if (!event) return 'init';
  if (event.type === 'runner.event')
    return `runner.event:${(event as unknown as { event: { type: string } }).event.type}`;
  return event.type;
}

/** Seeds for a scope restored after a restart: kept messages, and a run that was in flight. */
export const RESTORED_SEEDS: Record<string, ScopeSeed> = {
  'kept messages': { ...SEED, pendingInputs: [message('om_kept', 'kept while down')] },
  'interrupted run': {
    ...SEED,
    sessionId: 'thread-before-crash',
    interruptedRun: { runId: 'r-old-1', inputs: [message('om_inflight', 'was running')], startedAt: 1 },
  },
  'interrupted run and kept messages': {
    ...SEED,
    pendingInputs: [message('om_kept2', 'kept too')],
    interruptedRun: { runId: 'r-old-2', inputs: [message('om_inflight2', 'was running')] },
  },
};

/** What the scope did to the outside world, as the effects received it. */
export interface Effects {
  persisted: ScopeFacts[];
  renders: { runId: string; update: RenderUpdate }[];
  notices: Notice[];
  slotRequests: number;
  slotReleases: number;
  interrupted: string[];
}

export interface ScopeSut {
  actor: Actor<typeof scopeMachine>;
  agent: ScriptedAgent;
  effects: Effects;
  /** Every message id handed to the scope, in order. */
  sent: string[];
  /** Messages /new dropped on purpose (they were waiting when it came). */
  dropped: string[];
  settle(): Promise<void>;
}

export function createScopeSut(coverage?: TransitionCoverage, seed: ScopeSeed = SEED): ScopeSut {
  const agent = new ScriptedAgent({ exitOnAbort: false, canSteer: seed.settings.steerMidRun === true });
  const effects: Effects = {
    persisted: [],
    renders: [],
    notices: [],
    slotRequests: 0,
    slotReleases: 0,
    interrupted: [],
  };
  const machine = scopeMachine.provide({
    actors: { runner: createRunnerLogic({ agent, now: () => Date.now() }) },
    actions: {
      persistScope: (_, facts) => void effects.persisted.push(structuredClone(facts)),
      renderRun: (_, params) => void effects.renders.push(structuredClone(params)),
      notify: (_, notice) => void effects.notices.push(notice),
      reportInterruptedRun: (_, { run }) => void effects.interrupted.push(run.runId),
      requestRunSlot: () => {
        effects.slotRequests++;
      },
      releaseRunSlot: () => {
        effects.slotReleases++;
      },
    },
  });
  const actor = createActor(machine, {
    input: seed,
    // Only the scope's own microsteps (its runner child is another machine); this also sees the initial one.
    ...(coverage
      ? { inspect: coverage.observer((e) => (e.actorRef as unknown as { logic: unknown }).logic === machine) }
      : {}),
  });
  actor.start();
  const restored = [...(seed.pendingInputs ?? []), ...(seed.interruptedRun?.inputs ?? [])].map(
    (i) => i.messageId,
  );
  return {
    actor,
    agent,
    effects,
    sent: restored,
    dropped: [],
    settle: () => vi.advanceTimersByTimeAsync(0).then(() => {}),
  };
}

let counter = 0;
function nextMessage(sut: ScopeSut, text: string): MessageInput {
  counter += 1;
  const input = message(`om_${counter}`, `${text} ${counter}`);
  sut.sent.push(input.messageId);
  return input;
}

/** Advance fake time to just before a delay, check nothing fired, then cross it. */
async function crossDelay(sut: ScopeSut, ms: number) {
  const before = abstractState(sut.actor.getSnapshot());
  await vi.advanceTimersByTimeAsync(ms - 1);
  expect(abstractState(sut.actor.getSnapshot()), 'fired early').toBe(before);
  await vi.advanceTimersByTimeAsync(1);
}

/** Model event → the real stimulus that produces it. */
export function eventExecutors(sut: ScopeSut) {
  const send = async (event: ScopeEvent) => {
    sut.actor.send(event);
    await sut.settle();
  };
  const settings = () => sut.actor.getSnapshot().context.settings;
  const executors: Record<string, (step?: { event: ScopeEvent }) => Promise<void>> = {
    'input.message': () => send({ type: 'input.message', input: nextMessage(sut, 'hello') }),
    'control.stop': () => send({ type: 'control.stop' }),
    'control.steer': () => send({ type: 'control.steer', input: nextMessage(sut, 'instead') }),
    'control.new': () => {
      const { context } = sut.actor.getSnapshot();
      sut.dropped.push(
        ...context.pendingInputs.map((i) => i.messageId),
        ...(context.activeRun?.inputs ?? []).map((i) => i.messageId),
      );
      return send({ type: 'control.new' });
    },
    'control.timeout': () => send({ type: 'control.timeout', seconds: 30 }),
    'scope.configure': async () => {
      const before = sut.actor.getSnapshot().context;
      await send({
        type: 'scope.configure',
        settings: CONFIGURED,
        sessionId: 'thread-configured',
        note: 'configured',
      });
      const after = sut.actor.getSnapshot().context;
      // A run keeps the policy it started with (and an ended scope takes nothing); otherwise the
      // next run gets the new one.
      if (sut.actor.getSnapshot().status === 'done') {
        expect(after.settings).toEqual(before.settings);
      } else if (before.activeRun) {
        expect(after.settings).toEqual(before.settings);
        expect(after.sessionId).toBe(before.sessionId);
        expect(after.deferredConfiguration).toEqual({ settings: CONFIGURED, sessionId: 'thread-configured' });
      } else {
        expect(after.settings).toEqual(CONFIGURED);
        expect(after.sessionId).toBe('thread-configured');
      }
    },
    'pool.granted': () => send({ type: 'pool.granted' }),
    'pool.position': () => send({ type: 'pool.position', position: 2 }),
    'daemon.shutdown': () => send({ type: 'daemon.shutdown', at: Date.now() }),
    // The real runner announces itself as soon as it starts: nothing to do but check it did.
    'run.started': async () => {
      await sut.settle();
      expect(sut.actor.getSnapshot().context.activeRun?.startedAt).toBeTypeOf('number');
    },
    'runner.event': async (step?: { event: ScopeEvent }) => {
      const modelEvent = step?.event;
      sut.agent.current.push(
        modelEvent?.type === 'runner.event'
          ? modelEvent.event
          : { type: 'text', itemId: 'i', text: 'x', mode: 'delta' },
      );
      await sut.settle();
    },
    // The runner reports a steer's fate once the agent answers it.
    'run.steered': async () => {
      sut.agent.current.answerSteer(true);
      await sut.settle();
    },
    'run.steerRefused': async () => {
      sut.agent.current.answerSteer(false);
      await sut.settle();
    },
    'run.finished': async () => {
      const run = sut.agent.current;
      // A turn that ends answers the steers it never took.
      while (run.pendingSteers.length > 0) run.answerSteer(false);
      if (run.aborted) run.exitAfterStop();
      else run.finish();
      await sut.settle();
    },
    [DELAYED.debounce]: () => crossDelay(sut, settings().debounceMs),
    [DELAYED.idleTimeout]: () => crossDelay(sut, settings().idleTimeoutMs),
    [DELAYED.evictAfter]: () => crossDelay(sut, settings().evictAfterMs),
    // The cap only bites if the agent keeps busy: keep the idle watchdog fed until it does.
    [DELAYED.runCap]: async () => {
      const startedAt = sut.actor.getSnapshot().context.activeRun?.startedAt ?? Date.now();
      const step = Math.floor(settings().idleTimeoutMs / 2);
      while (startedAt + settings().runCapMs - Date.now() > step) {
        await vi.advanceTimersByTimeAsync(step);
        sut.agent.current.push({ type: 'text', itemId: 'i', text: '.', mode: 'delta' });
        await sut.settle();
      }
      await vi.advanceTimersByTimeAsync(startedAt + settings().runCapMs - Date.now());
    },
  };
  return new Proxy(executors, {
    get(target, key: string) {
      if (key in target) return async (step: { event: ScopeEvent }) => target[key]!(step);
      if (STOP_GRACE.test(key)) return () => crossDelay(sut, settings().stopGraceMs);
      return undefined;
    },
  });
}

/** Spec-level invariants checked after every step, whatever the path. */
export function assertInvariants(sut: ScopeSut, modelState?: AnyMachineSnapshot) {
  const snapshot = sut.actor.getSnapshot();
  if (modelState) expect(abstractState(snapshot)).toBe(abstractState(modelState));
  const { context } = snapshot;
  // A run told to stop that ignores it past stopGrace is abandoned (killed as far as larkcode can);
  // apart from such a one, never two runs in one scope.
  const live = sut.agent.live().filter((r) => !r.aborted || r === sut.agent.runs[sut.agent.runs.length - 1]);
  const unstopped = sut.agent.live().filter((r) => !r.aborted);
  expect(unstopped.length, 'never two runs in one scope').toBeLessThanOrEqual(1);
  expect(live.length, 'never two runs in one scope').toBeLessThanOrEqual(1);

  if (snapshot.matches('idle')) {
    expect(context.pendingInputs, 'idle ⇒ nothing pending').toEqual([]);
    expect(context.activeRun).toBeUndefined();
  }
  if (
    snapshot.matches('idle') ||
    snapshot.matches('debouncing') ||
    snapshot.matches('holding') ||
    snapshot.status === 'done'
  ) {
    expect(unstopped, 'no agent run outside running').toEqual([]);
  }
  if (snapshot.matches('debouncing') || snapshot.matches('holding')) {
    expect(context.pendingInputs.length).toBeGreaterThan(0);
  }
  if (snapshot.matches('starting')) {
    expect(context.activeRun?.handedToAgent).toBe(false);
    expect(unstopped).toEqual([]);
  }
  if (snapshot.matches({ running: 'active' })) {
    expect(unstopped).toHaveLength(1);
    expect(live).toHaveLength(1);
    // Inputs confirmed by steering came after the start; the rest is what the run started with.
    const steered = live[0]!.acceptedSteers.length;
    const initial = context.activeRun!.inputs.slice(0, context.activeRun!.inputs.length - steered);
    expect(live[0]!.request.prompt, 'the runner got exactly the run’s messages').toBe(buildPrompt(initial));
    expect(
      context.activeRun!.inputs.slice(initial.length).map((i) => i.text),
      'steered inputs are the ones the agent took',
    ).toEqual(live[0]!.acceptedSteers);
    expect(live[0]!.request.runId).toBe(context.activeRun!.runId);
    expect(live[0]!.aborted).toBe(false);
  }
  if (snapshot.matches({ running: 'stopping' })) {
    expect(live).toHaveLength(1);
    expect(live[0]!.aborted, 'a stopping run was told to stop').toBe(true);
    // The first stop's reason sticks (a /new after a timeout still ends as timeout).
    const timeout =
      snapshot.matches({ running: { stopping: 'timedOut' } }) ||
      snapshot.matches({ running: { stopping: 'capped' } });
    if (timeout) expect(live[0]!.stopReason).toBe('timeout');
    else expect(live[0]!.stopReason).toBeDefined();
  }
  // Nothing lost: every message handed in is pending, in the current run, or in a reported run (or /new dropped it).
  const reported = new Set(
    sut.effects.renders.flatMap((r) =>
      r.update.type === 'render.open' || r.update.type === 'render.inputs'
        ? r.update.inputs.map((i) => i.messageId)
        : [],
    ),
  );
  const held = new Set(
    [
      ...context.pendingInputs,
      ...(context.activeRun?.inputs ?? []),
      ...(context.activeRun?.steering ?? []),
    ].map((i) => i.messageId),
  );
  for (const runId of sut.effects.interrupted) reported.add(runId);
  const interruptedInputs = new Set(
    Object.values(RESTORED_SEEDS).flatMap((seed) =>
      seed.interruptedRun && sut.effects.interrupted.includes(seed.interruptedRun.runId)
        ? seed.interruptedRun.inputs.map((i) => i.messageId)
        : [],
    ),
  );
  for (const id of interruptedInputs) reported.add(id);
  const dropped = droppedByNew(sut);
  for (const id of sut.sent) {
    expect(held.has(id) || reported.has(id) || dropped.has(id), `message ${id} was lost`).toBe(true);
  }
  // Every run that started says how it ended, once.
  const finishes = new Map<string, number>();
  for (const r of sut.effects.renders)
    if (r.update.type === 'render.finish') finishes.set(r.runId, (finishes.get(r.runId) ?? 0) + 1);
  for (const count of finishes.values()) expect(count, 'one outcome per run').toBe(1);
}

function droppedByNew(sut: ScopeSut): Set<string> {
  return new Set(sut.dropped);
}
