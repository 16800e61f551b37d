import { type ActorRefFrom, assign, enqueueActions, setup } from 'xstate';
import type { ScopeId } from '../src/core/bridge-input.js';
import { type ScopeEvent, type ScopeSeed, scopeMachine } from './scope.machine.js';

/** Events for one scope, as the supervisor routes them. */
export type ScopeBoundEvent = Extract<
  ScopeEvent,
  { type: 'input.message' | 'control.stop' | 'control.steer' | 'control.new' | 'control.timeout' }
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
    deliverToScope: enqueueActions(({ event, enqueue, system }) => {
      if (event.type !== 'scope.deliver' && event.type !== 'scope.restore') return;
      const seed = event.seed;
      const existing = system.get(seed.scopeId) as ScopeActorRef | undefined;
      if (existing?.getSnapshot().status !== 'active') {
        if (existing) enqueue.stopChild(seed.scopeId);
        enqueue.spawnChild('scope', { id: seed.scopeId, systemId: seed.scopeId, input: seed });
      }
      if (event.type === 'scope.deliver') enqueue.sendTo(seed.scopeId, event.event);
    }),
    grantOrQueue: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'pool.request') return;
      const { scopeId } = event;
      if (context.runningScopes.includes(scopeId)) {
        enqueue.sendTo(scopeId, { type: 'pool.granted' });
        return;
      }
      if (context.runningScopes.length < context.maxConcurrentRuns) {
        enqueue.assign({ runningScopes: [...context.runningScopes, scopeId] });
        enqueue.sendTo(scopeId, { type: 'pool.granted' });
        return;
      }
      const waiting = context.waitingScopes.includes(scopeId)
        ? context.waitingScopes
        : [...context.waitingScopes, scopeId];
      enqueue.assign({ waitingScopes: waiting });
      enqueue.sendTo(scopeId, { type: 'pool.position', position: waiting.indexOf(scopeId) + 1 });
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
        enqueue.sendTo(next, { type: 'pool.granted' });
      }
      const positionsChanged = wasWaiting || waiting.length !== context.waitingScopes.length;
      enqueue.assign({ runningScopes: running, waitingScopes: waiting });
      if (positionsChanged) {
        for (const [index, id] of waiting.entries())
          enqueue.sendTo(id, { type: 'pool.position', position: index + 1 });
      }
    }),
    stopFinishedScope: enqueueActions(({ event, enqueue }) => {
      const actorId = (event as unknown as { actorId?: string }).actorId;
      if (actorId) enqueue.stopChild(actorId);
    }),
    broadcastShutdown: enqueueActions(({ event, enqueue, self }) => {
      if (event.type !== 'daemon.shutdown') return;
      for (const childId of Object.keys(self.getSnapshot().children)) {
        enqueue.sendTo(childId, { type: 'daemon.shutdown', at: event.at });
      }
    }),
    clearPool: assign({ runningScopes: [], waitingScopes: [] }),
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input }) => ({
    maxConcurrentRuns: input.maxConcurrentRuns,
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

function scopeIdOfRelease(event: { type: string }): ScopeId | undefined {
  if (event.type === 'pool.release') return (event as unknown as { scopeId: ScopeId }).scopeId;
  const actorId = (event as { actorId?: string }).actorId;
  return typeof actorId === 'string' ? actorId : undefined;
}
