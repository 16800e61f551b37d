import type { RenderUpdate, ScopeSettings, UsageBaseline } from '../../machines/scope.machine.js';
import type { MessageInput } from '../core/bridge-input.js';
import { initialRunState, type RunState, reduceRunState } from './run-state.js';

/** Where the run stands before and around the agent's own events. */
export type RunStage = 'preparing' | 'waiting_for_slot' | 'running' | 'finished';

/**
 * What one run's card shows: the agent's folded RunState plus the run's frame
 * (which messages, which policy, queue position, timing). Folded by {@link reduceRunView}.
 */
export interface RunView {
  runId: string;
  scopeId: string;
  stage: RunStage;
  inputs: MessageInput[];
  settings?: ScopeSettings;
  queuePosition?: number;
  startedAt?: number;
  endedAt?: number;
  /** Why a run ended without the agent saying so (stopped before start, shut down …). */
  note?: string;
  /** Token totals before this run, to show this turn's share of a thread's totals. */
  usageBaseline?: UsageBaseline;
  agent: RunState;
}

/** The updates a renderer receives: defined by the scope machine that sends them. */
export type RunViewUpdate = RenderUpdate;

export function initialRunView(runId: string, scopeId = ''): RunView {
  return { runId, scopeId, stage: 'preparing', inputs: [], agent: initialRunState(runId) };
}

export function reduceRunView(view: RunView, update: RunViewUpdate): RunView {
  if (view.stage === 'finished') return view;
  switch (update.type) {
    case 'render.open':
      return {
        ...view,
        scopeId: update.scopeId,
        inputs: update.inputs,
        settings: update.settings,
        ...(update.usageBaseline ? { usageBaseline: update.usageBaseline } : {}),
      };
    case 'render.waiting':
      return { ...view, stage: 'waiting_for_slot', queuePosition: update.position };
    case 'render.inputs':
      return { ...view, inputs: update.inputs };
    case 'render.started': {
      const { queuePosition: _position, ...rest } = view;
      return { ...rest, stage: 'running', startedAt: update.at };
    }
    case 'render.agent':
      return { ...view, stage: 'running', agent: reduceRunState(view.agent, update.event) };
    case 'render.finish':
      return {
        ...view,
        stage: 'finished',
        ...(update.at ? { endedAt: update.at } : {}),
        ...(update.note ? { note: update.note } : {}),
        agent: reduceRunState(view.agent, {
          type: 'done',
          outcome: update.outcome,
          ...(update.error ? { error: update.error } : {}),
        }),
      };
  }
}
