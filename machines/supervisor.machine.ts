import { type ActorRefFrom, assign, enqueueActions, setup } from 'xstate';
import type { ScopeId } from '../src/core/bridge-input.js';
import { type ScopeEvent, type ScopeSeed, scopeMachine } from './scope.machine.js';

/** Events for one scope, as the supervisor routes them. */
export type ScopeBoundEvent = Extract<
  ScopeEvent,
  {
    type:
      | 'input.message'
      | 'control.stop'
      | 'control.steer'
      | 'control.new'
      | 'control.timeout'
      | 'scope.configure';
  }
>;

export type SupervisorEvent =
  /** An input for a scope; `seed` is its stored facts, used only when the scope actor has to be spawned. */
  | { type: 'scope.deliver'; scopeId: ScopeId; event: ScopeBoundEvent; seed: ScopeSeed }
  /** Bring back a scope that had work in flight or pending when larkcode stopped. */
  | { type: 'scope.restore'; seed: ScopeSeed }
  | { type: 'pool.request'; scopeId: ScopeId }
  | { type: 'pool.release'; scopeId: ScopeId }
  | { type: 'daemon.shutdown'; at: number };

export interface SupervisorInput {
  /** Global cap on concurrent agent runs. */
  maxConcurrentRuns: number;
}

export interface SupervisorContext {
  maxConcurrentRuns: number;
  /**
   * Scope actors alive now. Kept in context (not read from the system) so the machine stays
   * a pure function of its snapshot — which graph traversal for the generated tests needs.
   */
  liveScopes: ScopeId[];
  /** Scopes holding a run slot. */
  runningScopes: ScopeId[];
  /** Scopes waiting for a slot, first come first served. */
  waitingScopes: ScopeId[];
}

export type ScopeActorRef = ActorRefFrom<typeof scopeMachine>;

/**
 * Routes inputs to one scope actor per scope id (`systemId` = scope id), spawning
 * on first contact and after eviction; owns the global run pool; survives a crashed
 * scope; on shutdown lets every scope report its run as interrupted.
 */
export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    input: {} as SupervisorInput,
  },
  actors: { scope: scopeMachine },
  actions: {
    deliverToScope: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'scope.deliver' && event.type !== 'scope.restore') return;
      const { scopeId } = event.seed;
      if (!context.liveScopes.includes(scopeId)) {
        enqueue.spawnChild('scope', { id: scopeId, systemId: scopeId, input: event.seed });
        enqueue.assign({ liveScopes: [...context.liveScopes, scopeId] });
      }
      if (event.type === 'scope.deliver') enqueue.sendTo(scopeId, event.event);
    }),
    grantOrQueue: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'pool.request') return;
      const { scopeId } = event;
      // A request from a scope that is no longer alive (it raced its own stop) is stale.
      if (!context.liveScopes.includes(scopeId)) return;
      const tell = (message: PoolMessage) => tellScope(context, enqueue, scopeId, message);
      if (context.runningScopes.includes(scopeId)) {
        tell({ type: 'pool.granted' });
        return;
      }
      if (context.runningScopes.length < context.maxConcurrentRuns) {
        enqueue.assign({ runningScopes: [...context.runningScopes, scopeId] });
        tell({ type: 'pool.granted' });
        return;
      }
      const waiting = context.waitingScopes.includes(scopeId)
        ? context.waitingScopes
        : [...context.waitingScopes, scopeId];
      enqueue.assign({ waitingScopes: waiting });
      tell({ type: 'pool.position', position: waiting.indexOf(scopeId) + 1 });
    }),
    releaseAndPromote: enqueueActions(({ context, event, enqueue }) => {
      const scopeId = scopeIdOfRelease(event);
      if (!scopeId) return;
      let running = context.runningScopes.filter((id) => id !== scopeId);
      let waiting = context.waitingScopes.filter((id) => id !== scopeId);
      const wasWaiting = waiting.length !== context.waitingScopes.length;
      while (running.length < context.maxConcurrentRuns && waiting.length > 0) {
        const next = waiting[0]!;
        waiting = waiting.slice(1);
        running = [...running, next];
        tellScope(context, enqueue, next, { type: 'pool.granted' });
      }
      const positionsChanged = wasWaiting || waiting.length !== context.waitingScopes.length;
      enqueue.assign({ runningScopes: running, waitingScopes: waiting });
      if (positionsChanged) {
        for (const [index, id] of waiting.entries())
          tellScope(context, enqueue, id, { type: 'pool.position', position: index + 1 });
      }
    }),
    stopFinishedScope: enqueueActions(({ context, event, enqueue }) => {
      const actorId = (event as unknown as { actorId?: string }).actorId;
      if (!actorId) return;
      enqueue.stopChild(actorId);
      enqueue.assign({ liveScopes: context.liveScopes.filter((id) => id !== actorId) });
    }),
    broadcastShutdown: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'daemon.shutdown') return;
      for (const scopeId of context.liveScopes)
        enqueue.sendTo(scopeId, { type: 'daemon.shutdown', at: event.at });
    }),
    clearPool: assign({ runningScopes: [], waitingScopes: [] }),
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input }) => ({
    maxConcurrentRuns: input.maxConcurrentRuns,
    liveScopes: [],
    runningScopes: [],
    waitingScopes: [],
  }),
  initial: 'routing',
  states: {
    routing: {
      on: {
        'scope.deliver': { actions: 'deliverToScope' },
        'scope.restore': { actions: 'deliverToScope' },
        'pool.request': { actions: 'grantOrQueue' },
        'pool.release': { actions: 'releaseAndPromote' },
        // An evicted or crashed scope: free its slot and its actor; the store keeps its facts.
        'xstate.done.actor.*': { actions: ['releaseAndPromote', 'stopFinishedScope'] },
        'xstate.error.actor.*': { actions: ['releaseAndPromote', 'stopFinishedScope'] },
        'daemon.shutdown': { target: 'shuttingDown', actions: ['broadcastShutdown', 'clearPool'] },
      },
    },
    shuttingDown: {
      description: 'Scopes report their runs as interrupted; new inputs are refused.',
    },
  },
});

type PoolMessage = { type: 'pool.granted' } | { type: 'pool.position'; position: number };

/** Pool messages go to live scopes only: a scope that just stopped must not take the supervisor down. */
function tellScope(
  context: SupervisorContext,
  enqueue: { sendTo(to: string, event: never): void },
  scopeId: ScopeId,
  message: PoolMessage,
): void {
  if (context.liveScopes.includes(scopeId)) enqueue.sendTo(scopeId, message as never);
}

function scopeIdOfRelease(event: { type: string }): ScopeId | undefined {
  if (event.type === 'pool.release') return (event as unknown as { scopeId: ScopeId }).scopeId;
  const actorId = (event as { actorId?: string }).actorId;
  return typeof actorId === 'string' ? actorId : undefined;
}
