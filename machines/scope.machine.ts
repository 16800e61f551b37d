import { assertEvent, assign, fromCallback, raise, sendTo, setup } from 'xstate';
import type { AgentEvent, RunOutcome, RunRequest, SandboxMode, TokenUsage } from '../src/agents/types.js';
import type { MessageInput, ScopeId } from '../src/core/bridge-input.js';
import { buildPrompt } from './prompt.js';
import type { RunnerCommand, RunnerEvent } from './runner.js';

/** Per-scope policy and timing; decided before a run starts. */
export interface ScopeSettings {
  workspace: string;
  sandbox: SandboxMode;
  networkAccess: boolean;
  /** Quiet window that merges quick messages into one run. */
  debounceMs: number;
  /** No agent event for this long stops the run as "timeout". */
  idleTimeoutMs: number;
  /** Wall-clock cap per run. */
  runCapMs: number;
  /** How long a stopped agent may take to exit before the scope moves on without it. */
  stopGraceMs: number;
  /** An idle scope actor is stopped after this long; it is restored from the store on demand. */
  evictAfterMs: number;
  /**
   * A message sent during a run joins the running turn (steer) instead of waiting for the next
   * run. Only where the agent can steer; otherwise messages queue.
   */
  steerMidRun?: boolean;
}

/** A run that was in flight when larkcode died: reported interrupted, never re-run. */
export interface InterruptedRun {
  runId: string;
  inputs: MessageInput[];
  startedAt?: number;
  cardMessageId?: string;
  /** The CardKit entity behind that message, and when it was made (sequence numbers derive from it). */
  cardId?: string;
  cardCreatedAt?: number;
}

/** Durable facts a scope starts from (fresh, or restored from the store). */
export interface ScopeSeed {
  scopeId: ScopeId;
  settings: ScopeSettings;
  sessionId?: string;
  pendingInputs?: MessageInput[];
  interruptedRun?: InterruptedRun;
  /** Makes run ids unique across restarts; chosen by the runtime. */
  runIdPrefix: string;
}

/** The run being prepared or in flight. */
export interface ActiveRun {
  runId: string;
  inputs: MessageInput[];
  /** True once the inputs were handed to the agent: from then on a crash means "interrupted". */
  handedToAgent: boolean;
  startedAt?: number;
  /** Messages sent to the running turn, not yet confirmed taken (then they move to `inputs`). */
  steering?: MessageInput[];
}

/** What the scope persists whenever it changes. */
export interface ScopeFacts {
  scopeId: ScopeId;
  sessionId?: string;
  idleTimeoutMs: number;
  workspace: string;
  sandbox: SandboxMode;
  pendingInputs: MessageInput[];
  inflight?: { runId: string; inputs: MessageInput[]; startedAt?: number };
}

/** The thread a run resumes and that thread's token totals after its previous turn. */
export interface UsageBaseline {
  sessionId?: string;
  usage?: TokenUsage;
}

/** Everything the renderer of one run is told, in order. */
export type RenderUpdate =
  | {
      type: 'render.open';
      scopeId: ScopeId;
      inputs: MessageInput[];
      settings: ScopeSettings;
      /** Token totals before this run, added by the runtime (Codex counts per thread). */
      usageBaseline?: UsageBaseline;
    }
  | { type: 'render.waiting'; position: number }
  | { type: 'render.started'; at: number }
  | { type: 'render.agent'; event: AgentEvent; at: number }
  | { type: 'render.inputs'; inputs: MessageInput[] }
  | { type: 'render.finish'; outcome: RunOutcome; error?: string; note?: string; at: number };

/** Short answers to control commands, replying to the message that asked. */
export interface Notice {
  replyTo?: MessageInput;
  text: string;
}

export interface ScopeContext {
  scopeId: ScopeId;
  settings: ScopeSettings;
  sessionId?: string;
  /** Accepted messages not yet in a run, in arrival order. */
  pendingInputs: MessageInput[];
  activeRun?: ActiveRun;
  runIdPrefix: string;
  runSeq: number;
  interruptedRun?: InterruptedRun;
  /** A new policy that arrived during a run: the run keeps its own, the next one gets this. */
  deferredConfiguration?: { settings: ScopeSettings; sessionId?: string };
}

/** Who asked for a control action, so the answer can reply to it. */
interface ControlOrigin {
  origin?: MessageInput;
}

export type ScopeEvent =
  | { type: 'input.message'; input: MessageInput }
  | ({ type: 'control.stop' } & ControlOrigin)
  | { type: 'control.steer'; input: MessageInput }
  | ({ type: 'control.new' } & ControlOrigin)
  | ({ type: 'control.timeout'; seconds?: number } & ControlOrigin)
  /**
   * New policy or session for the next run (workspace, access, a resumed session), decided by
   * the runtime: the session must be the one recorded for exactly this policy, or none.
   */
  | ({ type: 'scope.configure'; settings: ScopeSettings; sessionId?: string; note: string } & ControlOrigin)
  | { type: 'pool.granted' }
  | { type: 'pool.position'; position: number }
  | RunnerEvent
  | { type: 'daemon.shutdown'; at: number };

const STOP_TIMEOUT_NOTE = 'the agent did not stop in time';

const FORWARD_TO_RENDERER = { type: 'renderRun', params: agentEventUpdate } as const;
const FORWARD_AND_PERSIST_SESSION = [
  FORWARD_TO_RENDERER,
  'recordSession',
  { type: 'persistScope', params: factsOf },
] as const;
const FINISH_ON_RENDERER = { type: 'renderRun', params: finishUpdate } as const;
/** Stopping because time ran out: the run ends as "timeout"; a steer runs right after. */
const STOPPING_FOR_TIMEOUT = {
  after: { stopGrace: { actions: { type: 'forceFinish', params: { outcome: 'timeout' } } } },
  entry: 'stopRunnerAsTimeout',
  on: {
    'control.steer': {
      target: 'forSteer',
      actions: ['enqueueInput', { type: 'persistScope', params: factsOf }],
    },
    'run.finished': { guard: 'isCurrentRun', target: '#scope.settling', actions: FINISH_ON_RENDERER },
  },
} as const;

/** A message during a run, where the agent can steer: it goes to the running turn. */
const STEER_INTO_RUN = [
  'startSteer',
  'sendSteerToRunner',
  { type: 'persistScope', params: factsOf },
] as const;

/** A message in a quiet scope waits for the quiet window; `!text` starts at once. */
const WAIT_FOR_QUIET = {
  target: 'debouncing',
  actions: ['enqueueInput', { type: 'persistScope', params: factsOf }],
} as const;
const START_NOW = {
  target: 'starting',
  actions: ['enqueueInput', { type: 'persistScope', params: factsOf }],
} as const;

/** /new from a scope with no run in flight: drop what waits, forget the session, say so. */
function newSessionDropping(text: string) {
  return {
    target: 'idle',
    actions: [
      'clearPending',
      'clearSession',
      { type: 'persistScope', params: factsOf },
      { type: 'notify', params: noticeFor(text) },
    ],
  } as const;
}

/** /new drops what is queued at that moment; what arrives later belongs to the new session. */
const DROP_QUEUE = ['clearPending', { type: 'persistScope', params: factsOf }] as const;
/** A message for a run that has not started yet joins it (and its card). */
const ADD_TO_PREPARING_RUN = [
  'addInputToPreparingRun',
  { type: 'renderRun', params: preparingInputsUpdate },
  { type: 'persistScope', params: factsOf },
] as const;

export const scopeMachine = setup({
  types: {
    context: {} as ScopeContext,
    events: {} as ScopeEvent,
    input: {} as ScopeSeed,
  },
  actors: {
    // Provided by the runtime: createRunnerLogic over a real AgentRunner.
    runner: fromCallback<RunnerCommand, RunRequest, RunnerEvent>(() => () => {}),
  },
  delays: {
    debounce: ({ context }) => context.settings.debounceMs,
    idleTimeout: ({ context }) => context.settings.idleTimeoutMs,
    runCap: ({ context }) => context.settings.runCapMs,
    stopGrace: ({ context }) => context.settings.stopGraceMs,
    evictAfter: ({ context }) => context.settings.evictAfterMs,
  },
  actions: {
    // ── effects, provided by the runtime ──
    persistScope: (_, _facts: ScopeFacts) => {},
    renderRun: (_, _params: { runId: string; update: RenderUpdate }) => {},
    notify: (_, _notice: Notice) => {},
    reportInterruptedRun: (_, _params: { scopeId: ScopeId; run: InterruptedRun }) => {},
    requestRunSlot: sendTo(
      ({ system }) => system.get('supervisor'),
      ({ context }) => ({ type: 'pool.request', scopeId: context.scopeId }),
    ),
    releaseRunSlot: sendTo(
      ({ system }) => system.get('supervisor'),
      ({ context }) => ({ type: 'pool.release', scopeId: context.scopeId }),
    ),

    // ── context ──
    enqueueInput: assign({
      pendingInputs: ({ context, event }) => {
        assertEvent(event, ['input.message', 'control.steer']);
        return [...context.pendingInputs, event.input];
      },
    }),
    addInputToPreparingRun: assign({
      activeRun: ({ context, event }) => {
        assertEvent(event, ['input.message', 'control.steer']);
        const run = context.activeRun!;
        return { ...run, inputs: [...run.inputs, event.input] };
      },
    }),
    createRun: assign(({ context }) => ({
      runSeq: context.runSeq + 1,
      pendingInputs: [],
      activeRun: {
        runId: `${context.runIdPrefix}-${context.runSeq + 1}`,
        inputs: context.pendingInputs,
        handedToAgent: false,
      },
    })),
    markHandedToAgent: assign({
      activeRun: ({ context }) => ({ ...context.activeRun!, handedToAgent: true }),
    }),
    markRunStarted: assign({
      activeRun: ({ context, event }) => {
        assertEvent(event, 'run.started');
        return { ...context.activeRun!, startedAt: event.at };
      },
    }),
    returnRunInputsToPending: assign(({ context }) => ({
      pendingInputs: [...(context.activeRun?.inputs ?? []), ...context.pendingInputs],
      activeRun: undefined,
    })),
    // The run is over: a configuration that waited for it takes effect now, before the next run.
    clearActiveRun: assign(({ context }) => {
      // A steer the agent never confirmed is not lost: it waits for the next run.
      const unconfirmed = context.activeRun?.steering ?? [];
      const pendingInputs =
        unconfirmed.length > 0 ? [...unconfirmed, ...context.pendingInputs] : context.pendingInputs;
      const deferred = context.deferredConfiguration;
      if (!deferred) return { activeRun: undefined, pendingInputs };
      return {
        activeRun: undefined,
        pendingInputs,
        settings: deferred.settings,
        sessionId: deferred.sessionId,
        deferredConfiguration: undefined,
      };
    }),
    startSteer: assign({
      activeRun: ({ context, event }) => {
        assertEvent(event, 'input.message');
        const run = context.activeRun!;
        return { ...run, steering: [...(run.steering ?? []), event.input] };
      },
    }),
    sendSteerToRunner: sendTo('runner', ({ event }) => {
      assertEvent(event, 'input.message');
      return { type: 'runner.steer' as const, input: event.input };
    }),
    confirmSteer: assign({
      activeRun: ({ context, event }) => {
        assertEvent(event, 'run.steered');
        const run = context.activeRun!;
        const input = run.steering?.find((i) => i.messageId === event.messageId);
        if (!input) return run;
        return {
          ...run,
          inputs: [...run.inputs, input],
          steering: run.steering!.filter((i) => i !== input),
        };
      },
    }),
    refuseSteer: assign(({ context, event }) => {
      assertEvent(event, 'run.steerRefused');
      const run = context.activeRun!;
      const input = run.steering?.find((i) => i.messageId === event.messageId);
      if (!input) return {};
      return {
        activeRun: { ...run, steering: run.steering!.filter((i) => i !== input) },
        pendingInputs: [...context.pendingInputs, input],
      };
    }),
    deferConfiguration: assign(({ event }) => {
      assertEvent(event, 'scope.configure');
      return {
        deferredConfiguration: {
          settings: event.settings,
          ...(event.sessionId ? { sessionId: event.sessionId } : {}),
        },
      };
    }),
    clearPending: assign({ pendingInputs: [] }),
    clearSession: assign({ sessionId: undefined }),
    clearInterruptedRun: assign({ interruptedRun: undefined }),
    applyConfiguration: assign(({ event }) => {
      assertEvent(event, 'scope.configure');
      return { settings: event.settings, sessionId: event.sessionId };
    }),
    setIdleTimeout: assign({
      settings: ({ context, event }) => {
        assertEvent(event, 'control.timeout');
        if (event.seconds === undefined) return context.settings;
        return { ...context.settings, idleTimeoutMs: event.seconds * 1000 };
      },
    }),
    stopRunnerAsInterrupted: sendTo('runner', { type: 'runner.stop', reason: 'interrupted' }),
    stopRunnerAsTimeout: sendTo('runner', { type: 'runner.stop', reason: 'timeout' }),
    recordSession: assign({
      sessionId: ({ context, event }) => {
        assertEvent(event, 'runner.event');
        return event.event.type === 'session' ? event.event.sessionId : context.sessionId;
      },
    }),
    /** A stopped agent that does not exit in time: finish the run without it. */
    forceFinish: raise(({ context }, params: { outcome: RunOutcome }) => ({
      type: 'run.finished' as const,
      runId: context.activeRun?.runId ?? '',
      outcome: params.outcome,
      error: STOP_TIMEOUT_NOTE,
      at: 0,
    })),
  },
  guards: {
    isCurrentRun: ({ context, event }) => 'runId' in event && event.runId === context.activeRun?.runId,
    // A run being prepared or in flight keeps the policy it started with.
    hasActiveRun: ({ context }) => context.activeRun !== undefined,
    hasPendingInputs: ({ context }) => context.pendingInputs.length > 0,
    steersMidRun: ({ context }) => context.settings.steerMidRun === true,
    /** The runner's answer about a message this run is still steering in. */
    isSteerOfThisRun: ({ context, event }) =>
      (event.type === 'run.steered' || event.type === 'run.steerRefused') &&
      event.runId === context.activeRun?.runId &&
      (context.activeRun.steering ?? []).some((input) => input.messageId === event.messageId),
    /** The agent now waits for a person (an approval or a question): the idle watchdog pauses. */
    waitsForPerson: ({ context, event }) =>
      event.type === 'runner.event' &&
      event.runId === context.activeRun?.runId &&
      (event.event.type === 'approval' || event.event.type === 'question') &&
      event.event.status === 'pending',
    keepsWaitingForPerson: ({ context, event }) =>
      event.type === 'runner.event' &&
      event.runId === context.activeRun?.runId &&
      (event.event.type === 'steered' ||
        ((event.event.type === 'approval' || event.event.type === 'question') &&
          event.event.status === 'pending')),
    hasInterruptedRun: ({ context }) => context.interruptedRun !== undefined,
    /** The agent reported a session id we have not persisted yet. */
    isNewSession: ({ context, event }) =>
      event.type === 'runner.event' &&
      event.runId === context.activeRun?.runId &&
      event.event.type === 'session' &&
      event.event.sessionId !== context.sessionId,
  },
}).createMachine({
  id: 'scope',
  context: ({ input }) => ({
    scopeId: input.scopeId,
    settings: input.settings,
    ...(input.sessionId ? { sessionId: input.sessionId } : {}),
    pendingInputs: input.pendingInputs ?? [],
    runIdPrefix: input.runIdPrefix,
    runSeq: 0,
    ...(input.interruptedRun ? { interruptedRun: input.interruptedRun } : {}),
  }),
  initial: 'restoring',
  on: {
    'control.timeout': {
      actions: [
        'setIdleTimeout',
        { type: 'persistScope', params: factsOf },
        { type: 'notify', params: timeoutNotice },
      ],
    },
    'scope.configure': [
      {
        guard: 'hasActiveRun',
        actions: ['deferConfiguration', { type: 'notify', params: deferredNotice }],
      },
      {
        actions: [
          'applyConfiguration',
          { type: 'persistScope', params: factsOf },
          { type: 'notify', params: configuredNotice },
        ],
      },
    ],
  },
  states: {
    restoring: {
      description:
        'A run in flight when larkcode died is reported interrupted (never re-run); kept messages run.',
      always: [
        {
          guard: 'hasInterruptedRun',
          target: 'restoring',
          reenter: true,
          actions: [
            {
              type: 'reportInterruptedRun',
              params: ({ context }) => ({ scopeId: context.scopeId, run: context.interruptedRun! }),
            },
            'clearInterruptedRun',
            { type: 'persistScope', params: factsOf },
          ],
        },
        { guard: 'hasPendingInputs', target: 'debouncing' },
        { target: 'idle' },
      ],
    },

    idle: {
      description: 'No run and nothing pending.',
      after: { evictAfter: 'evicted' },
      on: {
        'input.message': WAIT_FOR_QUIET,
        'control.steer': START_NOW,
        'control.stop': { actions: { type: 'notify', params: noticeFor('Nothing is running.') } },
        'control.new': {
          actions: [
            'clearSession',
            { type: 'persistScope', params: factsOf },
            {
              type: 'notify',
              params: noticeFor('Started a new session: the next message begins a fresh conversation.'),
            },
          ],
        },
        'daemon.shutdown': 'stopped',
      },
    },

    debouncing: {
      description: 'Quiet window: every message restarts it; then all pending messages become one run.',
      after: { debounce: 'starting' },
      on: {
        'input.message': {
          target: 'debouncing',
          reenter: true,
          actions: ['enqueueInput', { type: 'persistScope', params: factsOf }],
        },
        'control.steer': {
          target: 'starting',
          actions: ['enqueueInput', { type: 'persistScope', params: factsOf }],
        },
        'control.stop': {
          target: 'holding',
          actions: { type: 'notify', params: keptNotice },
        },
        'control.new': newSessionDropping('Dropped the waiting messages and started a new session.'),
        'daemon.shutdown': 'stopped',
      },
    },

    starting: {
      description: 'The run exists and its card is up; waiting for a slot in the global run pool.',
      entry: [
        'createRun',
        {
          type: 'renderRun',
          params: ({ context }) => ({
            runId: context.activeRun!.runId,
            update: {
              type: 'render.open',
              scopeId: context.scopeId,
              inputs: context.activeRun!.inputs,
              settings: context.settings,
            },
          }),
        },
        'requestRunSlot',
      ],
      on: {
        'pool.granted': 'running',
        'pool.position': {
          actions: {
            type: 'renderRun',
            params: ({ context, event }) => ({
              runId: context.activeRun!.runId,
              update: { type: 'render.waiting', position: event.position },
            }),
          },
        },
        'input.message': { actions: ADD_TO_PREPARING_RUN },
        'control.steer': { actions: ADD_TO_PREPARING_RUN },
        'control.stop': {
          target: 'holding',
          actions: [
            'releaseRunSlot',
            {
              type: 'renderRun',
              params: cancelledBeforeStart('Stopped before it started; the messages are kept.'),
            },
            'returnRunInputsToPending',
            { type: 'persistScope', params: factsOf },
            { type: 'notify', params: keptNotice },
          ],
        },
        'control.new': {
          target: 'idle',
          actions: [
            'releaseRunSlot',
            { type: 'renderRun', params: cancelledBeforeStart('Dropped by /new before it started.') },
            'clearActiveRun',
            'clearPending',
            'clearSession',
            { type: 'persistScope', params: factsOf },
            { type: 'notify', params: noticeFor('Dropped the waiting messages and started a new session.') },
          ],
        },
        'daemon.shutdown': {
          target: 'stopped',
          actions: [
            {
              type: 'renderRun',
              params: cancelledBeforeStart('larkcode is restarting; this will run when it is back.'),
            },
            'returnRunInputsToPending',
            { type: 'persistScope', params: factsOf },
          ],
        },
      },
    },

    running: {
      description: 'One agent run in flight; leaving this state aborts it.',
      entry: ['markHandedToAgent', { type: 'persistScope', params: factsOf }],
      exit: 'releaseRunSlot',
      invoke: {
        id: 'runner',
        src: 'runner',
        input: ({ context }): RunRequest => {
          const run = context.activeRun!;
          return {
            runId: run.runId,
            scopeId: context.scopeId,
            prompt: buildPrompt(run.inputs),
            ...(context.sessionId ? { sessionId: context.sessionId } : {}),
            workspace: context.settings.workspace,
            sandbox: context.settings.sandbox,
            networkAccess: context.settings.networkAccess,
          };
        },
      },
      initial: 'active',
      states: {
        active: {
          type: 'parallel',
          // The cap bounds the agent's work; once stopping, stopGrace bounds the rest.
          after: { runCap: '#scope.running.stopping.capped' },
          states: {
            queue: {
              initial: 'empty',
              states: {
                empty: {
                  on: {
                    'input.message': [
                      { guard: 'steersMidRun', actions: STEER_INTO_RUN },
                      {
                        target: 'queued',
                        actions: ['enqueueInput', { type: 'persistScope', params: factsOf }],
                      },
                    ],
                    'run.steerRefused': {
                      guard: 'isSteerOfThisRun',
                      target: 'queued',
                      actions: ['refuseSteer', { type: 'persistScope', params: factsOf }],
                    },
                  },
                },
                queued: {
                  description:
                    'Messages wait for the next run (no steering, or a steer the turn refused); later ones queue behind them, in order.',
                  on: {
                    'input.message': { actions: ['enqueueInput', { type: 'persistScope', params: factsOf }] },
                  },
                },
              },
            },
            watchdog: {
              initial: 'armed',
              states: {
                armed: {
                  after: { idleTimeout: '#scope.running.stopping.timedOut' },
                  on: {
                    'runner.event': [
                      {
                        guard: 'isNewSession',
                        target: 'armed',
                        reenter: true,
                        actions: FORWARD_AND_PERSIST_SESSION,
                      },
                      { guard: 'waitsForPerson', target: 'waitingForPerson', actions: FORWARD_TO_RENDERER },
                      { guard: 'isCurrentRun', target: 'armed', reenter: true, actions: FORWARD_TO_RENDERER },
                    ],
                  },
                },
                waitingForPerson: {
                  description:
                    'The agent waits for an approval or an answer: silence is expected, and the request has its own deadline.',
                  on: {
                    'runner.event': [
                      // A message steered in meanwhile waits behind the approval: still waiting.
                      { guard: 'keepsWaitingForPerson', actions: FORWARD_TO_RENDERER },
                      { guard: 'isCurrentRun', target: 'armed', actions: FORWARD_TO_RENDERER },
                    ],
                  },
                },
              },
            },
          },
          on: {
            'control.stop': '#scope.running.stopping.byUser',
            'control.steer': {
              target: '#scope.running.stopping.forSteer',
              actions: ['enqueueInput', { type: 'persistScope', params: factsOf }],
            },
            'control.new': { target: '#scope.running.stopping.forReset', actions: DROP_QUEUE },
            'run.finished': [
              {
                guard: { type: 'isCurrentRun' },
                target: '#scope.settling',
                actions: FINISH_ON_RENDERER,
              },
            ],
          },
        },
        stopping: {
          description: 'The agent was told to stop; waiting for it to exit (bounded by stopGrace).',
          initial: 'byUser',
          on: {
            'input.message': { actions: ['enqueueInput', { type: 'persistScope', params: factsOf }] },
            'control.new': { target: '.forReset', actions: DROP_QUEUE },
            // During a reset a steer is kept and runs in the new session.
            'control.steer': { actions: ['enqueueInput', { type: 'persistScope', params: factsOf }] },
          },
          states: {
            byUser: {
              after: { stopGrace: { actions: { type: 'forceFinish', params: { outcome: 'interrupted' } } } },
              entry: 'stopRunnerAsInterrupted',
              on: {
                'control.steer': {
                  target: 'forSteer',
                  actions: ['enqueueInput', { type: 'persistScope', params: factsOf }],
                },
                'run.finished': {
                  guard: 'isCurrentRun',
                  target: '#scope.holdingOrIdle',
                  actions: [FINISH_ON_RENDERER, { type: 'notify', params: stoppedNotice }],
                },
              },
            },
            forSteer: {
              after: { stopGrace: { actions: { type: 'forceFinish', params: { outcome: 'interrupted' } } } },
              entry: 'stopRunnerAsInterrupted',
              on: {
                'control.steer': { actions: ['enqueueInput', { type: 'persistScope', params: factsOf }] },
                'run.finished': {
                  guard: 'isCurrentRun',
                  target: '#scope.startingNext',
                  actions: FINISH_ON_RENDERER,
                },
              },
            },
            forReset: {
              after: { stopGrace: { actions: { type: 'forceFinish', params: { outcome: 'interrupted' } } } },
              entry: 'stopRunnerAsInterrupted',
              on: {
                // Messages that arrived after /new are not dropped: they start the new session.
                'run.finished': {
                  guard: 'isCurrentRun',
                  target: '#scope.settling',
                  actions: [FINISH_ON_RENDERER, 'clearSession', { type: 'notify', params: resetNotice }],
                },
              },
            },
            // Idle watchdog and wall-clock cap stop the same way; two states keep the reason visible.
            timedOut: STOPPING_FOR_TIMEOUT,
            capped: STOPPING_FOR_TIMEOUT,
          },
        },
      },
      on: {
        'run.started': {
          guard: 'isCurrentRun',
          actions: ['markRunStarted', { type: 'renderRun', params: runStarted }],
        },
        'runner.event': [
          { guard: 'isNewSession', actions: FORWARD_AND_PERSIST_SESSION },
          { guard: 'isCurrentRun', actions: FORWARD_TO_RENDERER },
        ],
        'run.steered': {
          guard: 'isCurrentRun',
          actions: ['confirmSteer', { type: 'persistScope', params: factsOf }],
        },
        'run.steerRefused': {
          guard: 'isCurrentRun',
          actions: ['refuseSteer', { type: 'persistScope', params: factsOf }],
        },
        'daemon.shutdown': {
          target: 'stopped',
          actions: [
            {
              type: 'renderRun',
              params: ({ context, event }) => ({
                runId: context.activeRun!.runId,
                update: {
                  type: 'render.finish',
                  outcome: 'interrupted',
                  error: 'larkcode was shut down during this run',
                  at: event.type === 'daemon.shutdown' ? event.at : 0,
                },
              }),
            },
            'clearActiveRun',
            { type: 'persistScope', params: factsOf },
          ],
        },
      },
    },

    /** After a run ends on its own (or by watchdog): queued messages debounce into the next run. */
    settling: {
      entry: ['clearActiveRun', { type: 'persistScope', params: factsOf }],
      always: [{ guard: 'hasPendingInputs', target: 'debouncing' }, { target: 'idle' }],
    },
    /** After /stop: queued messages are kept, not run, until the next message. */
    holdingOrIdle: {
      entry: ['clearActiveRun', { type: 'persistScope', params: factsOf }],
      always: [{ guard: 'hasPendingInputs', target: 'holding' }, { target: 'idle' }],
    },
    /** After `!text`: run what is pending (the text included) at once, no quiet window. */
    startingNext: {
      entry: ['clearActiveRun', { type: 'persistScope', params: factsOf }],
      always: 'starting',
    },

    holding: {
      description: 'Stopped with messages kept; they run together with the next message.',
      on: {
        'input.message': WAIT_FOR_QUIET,
        'control.steer': START_NOW,
        'control.stop': { actions: { type: 'notify', params: keptNotice } },
        'control.new': newSessionDropping('Dropped the kept messages and started a new session.'),
        'daemon.shutdown': 'stopped',
      },
    },

    evicted: {
      type: 'final',
      description: 'Idle long enough: the supervisor stops this actor; the store keeps its facts.',
    },
    stopped: { type: 'final' },
  },
});

type ActionArgs = { context: ScopeContext; event: ScopeEvent };

/** The durable facts of the scope as they stand. */
export function factsOf({ context }: ActionArgs): ScopeFacts {
  const run = context.activeRun;
  const preparing = run && !run.handedToAgent ? run.inputs : [];
  // Not yet confirmed by the agent: after a crash they run again rather than vanish.
  const steering = run?.steering ?? [];
  return {
    scopeId: context.scopeId,
    ...(context.sessionId ? { sessionId: context.sessionId } : {}),
    idleTimeoutMs: context.settings.idleTimeoutMs,
    workspace: context.settings.workspace,
    sandbox: context.settings.sandbox,
    pendingInputs: [...preparing, ...steering, ...context.pendingInputs],
    ...(run?.handedToAgent
      ? {
          inflight: {
            runId: run.runId,
            inputs: run.inputs,
            ...(run.startedAt ? { startedAt: run.startedAt } : {}),
          },
        }
      : {}),
  };
}

function originOf(event: ScopeEvent): MessageInput | undefined {
  if (event.type === 'control.steer' || event.type === 'input.message') return event.input;
  if ('origin' in event) return event.origin;
  return undefined;
}

function noticeFor(text: string) {
  return ({ event }: ActionArgs): Notice => {
    const replyTo = originOf(event);
    return { text, ...(replyTo ? { replyTo } : {}) };
  };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function keptNotice({ context, event }: ActionArgs): Notice {
  const kept =
    context.pendingInputs.length +
    (context.activeRun && !context.activeRun.handedToAgent ? context.activeRun.inputs.length : 0);
  const replyTo = originOf(event);
  const text =
    kept > 0
      ? `Nothing is running. ${plural(kept, 'waiting message')} kept: they run with your next message (/new drops them).`
      : 'Nothing is running.';
  return { text, ...(replyTo ? { replyTo } : {}) };
}

function stoppedNotice({ context }: ActionArgs): Notice {
  const kept = context.pendingInputs.length;
  const text =
    kept > 0
      ? `Stopped. ${plural(kept, 'queued message')} kept: they run with your next message (/new drops them).`
      : 'Stopped.';
  const replyTo = context.activeRun?.inputs[context.activeRun.inputs.length - 1];
  return { text, ...(replyTo ? { replyTo } : {}) };
}

function deferredNotice({ event }: ActionArgs): Notice {
  assertEvent(event, 'scope.configure');
  const text = `${event.note} (This applies once the current run is over; the run keeps its settings.)`;
  return { text, ...(event.origin ? { replyTo: event.origin } : {}) };
}

function configuredNotice({ event }: ActionArgs): Notice {
  assertEvent(event, 'scope.configure');
  return { text: event.note, ...(event.origin ? { replyTo: event.origin } : {}) };
}

function timeoutNotice({ context, event }: ActionArgs): Notice {
  const replyTo = originOf(event);
  const seconds = Math.round(context.settings.idleTimeoutMs / 1000);
  const text =
    event.type === 'control.timeout' && event.seconds !== undefined
      ? `Idle timeout set to ${seconds} s for this chat.`
      : `Idle timeout is ${seconds} s: a run with no agent activity for that long is stopped. Set it with /timeout <seconds>.`;
  return { text, ...(replyTo ? { replyTo } : {}) };
}

function runStarted({ context, event }: ActionArgs): { runId: string; update: RenderUpdate } {
  assertEvent(event, 'run.started');
  return { runId: context.activeRun!.runId, update: { type: 'render.started', at: event.at } };
}

function cancelledBeforeStart(note: string) {
  return ({ context }: ActionArgs): { runId: string; update: RenderUpdate } => ({
    runId: context.activeRun!.runId,
    update: { type: 'render.finish', outcome: 'interrupted', note, at: 0 },
  });
}

function agentEventUpdate({ context, event }: ActionArgs): { runId: string; update: RenderUpdate } {
  assertEvent(event, 'runner.event');
  return {
    runId: context.activeRun!.runId,
    update: { type: 'render.agent', event: event.event, at: event.at },
  };
}

function finishUpdate({ context, event }: ActionArgs): { runId: string; update: RenderUpdate } {
  assertEvent(event, 'run.finished');
  return {
    runId: context.activeRun!.runId,
    update: {
      type: 'render.finish',
      outcome: event.outcome,
      ...(event.error ? { error: event.error } : {}),
      at: event.at,
    },
  };
}

function preparingInputsUpdate({ context }: ActionArgs): { runId: string; update: RenderUpdate } {
  return {
    runId: context.activeRun!.runId,
    update: { type: 'render.inputs', inputs: context.activeRun!.inputs },
  };
}

function resetNotice({ context }: ActionArgs): Notice {
  const replyTo = context.activeRun?.inputs[context.activeRun.inputs.length - 1];
  return { text: 'Stopped, dropped the queue and started a new session.', ...(replyTo ? { replyTo } : {}) };
}
