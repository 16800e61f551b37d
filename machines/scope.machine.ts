import { assertEvent, assign, fromCallback, setup } from 'xstate';
import type { RunRequest, SandboxMode } from '../src/agents/types.js';
import { initialRunState, type RunState, reduceRunState } from '../src/cards/run-state.js';
import type { MessageInput, ScopeId } from '../src/core/bridge-input.js';
import { buildPrompt } from './prompt.js';
import type { RunnerCommand, RunnerEvent } from './runner.js';

/** Per-scope policy the runner needs; decided before a run starts. */
export interface ScopeSettings {
  workspace: string;
  sandbox: SandboxMode;
  networkAccess: boolean;
}

/** Durable facts a scope starts from (restored from the store). */
export interface ScopeSeed {
  scopeId: ScopeId;
  settings: ScopeSettings;
  sessionId?: string;
}

/** The run in flight: which inputs it carries and what it has shown so far. */
export interface ActiveRun {
  runId: string;
  inputs: MessageInput[];
  startedAt?: number;
  state: RunState;
}

/** A run that has ended, handed to the effect that reports it. */
export interface FinishedRun extends ActiveRun {
  scopeId: ScopeId;
  settings: ScopeSettings;
  endedAt: number;
}

export interface ScopeContext {
  scopeId: ScopeId;
  settings: ScopeSettings;
  sessionId?: string;
  /** Messages received while a run was active, in arrival order; they form the next run. */
  pendingInputs: MessageInput[];
  activeRun?: ActiveRun;
}

export type ScopeEvent =
  | { type: 'input.message'; input: MessageInput }
  | RunnerEvent
  | { type: 'daemon.shutdown'; at: number };

export const scopeMachine = setup({
  types: {
    context: {} as ScopeContext,
    events: {} as ScopeEvent,
    input: {} as ScopeSeed,
  },
  actors: {
    // Provided by the runtime (createRunnerLogic over a real AgentRunner).
    runner: fromCallback<RunnerCommand, RunRequest, RunnerEvent>(() => () => {}),
  },
  actions: {
    enqueueInput: assign({
      pendingInputs: ({ context, event }) => {
        assertEvent(event, 'input.message');
        return [...context.pendingInputs, event.input];
      },
    }),
    takePendingIntoRun: assign(({ context }) => {
      const first = context.pendingInputs[0];
      const runId = `run_${first?.messageId ?? 'empty'}`;
      return {
        pendingInputs: [],
        activeRun: { runId, inputs: context.pendingInputs, state: initialRunState(runId) },
      };
    }),
    markRunStarted: assign({
      activeRun: ({ context, event }) => {
        assertEvent(event, 'run.started');
        return context.activeRun && { ...context.activeRun, startedAt: event.at };
      },
    }),
    foldAgentEvent: assign(({ context, event }) => {
      assertEvent(event, 'runner.event');
      if (!context.activeRun || context.activeRun.runId !== event.runId) return {};
      const state = reduceRunState(context.activeRun.state, event.event);
      return {
        activeRun: { ...context.activeRun, state },
        ...(event.event.type === 'session' ? { sessionId: event.event.sessionId } : {}),
      };
    }),
    /** Effect: tell the user how the run ended. Provided by the runtime. */
    publishRunResult: (_, _params: { run: FinishedRun }) => {},
    clearActiveRun: assign({ activeRun: undefined }),
  },
  guards: {
    isCurrentRun: ({ context, event }) =>
      'runId' in event && context.activeRun !== undefined && event.runId === context.activeRun.runId,
    isCurrentRunWithPendingInputs: ({ context, event }) =>
      'runId' in event && event.runId === context.activeRun?.runId && context.pendingInputs.length > 0,
  },
}).createMachine({
  id: 'scope',
  context: ({ input }) => ({
    scopeId: input.scopeId,
    settings: input.settings,
    ...(input.sessionId ? { sessionId: input.sessionId } : {}),
    pendingInputs: [],
  }),
  initial: 'idle',
  states: {
    idle: {
      description: 'No run; nothing pending.',
      entry: 'clearActiveRun',
      on: {
        'input.message': { target: 'running', actions: 'enqueueInput' },
        'daemon.shutdown': { target: 'stopped' },
      },
    },
    running: {
      description: 'One agent run in flight; leaving this state aborts it.',
      entry: 'takePendingIntoRun',
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
      initial: 'working',
      states: {
        working: {
          on: { 'input.message': { target: 'queued', actions: 'enqueueInput' } },
        },
        queued: {
          description: 'Messages arrived during the run; they become the next run.',
          on: { 'input.message': { actions: 'enqueueInput' } },
        },
      },
      on: {
        'run.started': { guard: 'isCurrentRun', actions: 'markRunStarted' },
        'runner.event': { guard: 'isCurrentRun', actions: 'foldAgentEvent' },
        'run.finished': [
          {
            guard: 'isCurrentRunWithPendingInputs',
            target: 'running',
            reenter: true,
            actions: { type: 'publishRunResult', params: finishedRunFromEvent },
          },
          {
            guard: 'isCurrentRun',
            target: 'idle',
            actions: { type: 'publishRunResult', params: finishedRunFromEvent },
          },
        ],
        'daemon.shutdown': {
          target: 'stopped',
          actions: { type: 'publishRunResult', params: interruptedRunOnShutdown },
        },
      },
    },
    stopped: { type: 'final', entry: 'clearActiveRun' },
  },
});

function finishedRunFromEvent({ context, event }: { context: ScopeContext; event: ScopeEvent }): {
  run: FinishedRun;
} {
  assertEvent(event, 'run.finished');
  const run = context.activeRun!;
  const state = reduceRunState(run.state, {
    type: 'done',
    outcome: event.outcome,
    ...(event.error ? { error: event.error } : {}),
  });
  return { run: { ...run, state, scopeId: context.scopeId, settings: context.settings, endedAt: event.at } };
}

function interruptedRunOnShutdown({ context, event }: { context: ScopeContext; event: ScopeEvent }): {
  run: FinishedRun;
} {
  assertEvent(event, 'daemon.shutdown');
  const run = context.activeRun!;
  const state = reduceRunState(run.state, {
    type: 'done',
    outcome: 'interrupted',
    error: 'larkcode was shut down during this run',
  });
  return { run: { ...run, state, scopeId: context.scopeId, settings: context.settings, endedAt: event.at } };
}
