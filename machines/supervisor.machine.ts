import { type ActorRefFrom, enqueueActions, setup } from 'xstate';
import type { MessageInput, ScopeId } from '../src/core/bridge-input.js';
import { type ScopeSeed, scopeMachine } from './scope.machine.js';

export type SupervisorEvent =
  /** A routed input; `seed` is the scope's stored facts, used only when the scope actor is spawned. */
  { type: 'input.received'; input: MessageInput; seed: ScopeSeed } | { type: 'daemon.shutdown'; at: number };

export type ScopeActorRef = ActorRefFrom<typeof scopeMachine>;

/**
 * Routes inputs to one scope actor per scope id (`systemId` = scope id), spawning
 * on first contact. A crashed scope is stopped and respawned on its next input.
 */
export const supervisorMachine = setup({
  types: { events: {} as SupervisorEvent },
  actors: { scope: scopeMachine },
  actions: {
    routeToScope: enqueueActions(({ event, enqueue, system }) => {
      if (event.type !== 'input.received') return;
      const scopeId: ScopeId = event.input.scopeId;
      const existing = system.get(scopeId) as ScopeActorRef | undefined;
      if (existing?.getSnapshot().status !== 'active') {
        if (existing) enqueue.stopChild(scopeId);
        enqueue.spawnChild('scope', { id: scopeId, systemId: scopeId, input: event.seed });
      }
      enqueue.sendTo(scopeId, { type: 'input.message', input: event.input });
    }),
    broadcastShutdown: enqueueActions(({ event, enqueue, self }) => {
      if (event.type !== 'daemon.shutdown') return;
      for (const childId of Object.keys(self.getSnapshot().children)) {
        enqueue.sendTo(childId, { type: 'daemon.shutdown', at: event.at });
      }
    }),
    stopCrashedScope: enqueueActions(({ event, enqueue }) => {
      const actorId = (event as unknown as { actorId?: string }).actorId;
      if (actorId) enqueue.stopChild(actorId);
    }),
  },
}).createMachine({
  id: 'supervisor',
  initial: 'routing',
  states: {
    routing: {
      on: {
        'input.received': { actions: 'routeToScope' },
        'daemon.shutdown': { target: 'shuttingDown', actions: 'broadcastShutdown' },
        'xstate.error.actor.*': { actions: 'stopCrashedScope' },
      },
    },
    shuttingDown: {
      description: 'Scopes report their runs as interrupted; new inputs are refused.',
    },
  },
});
