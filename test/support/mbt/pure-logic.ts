import { type AnyStateMachine, createEmptyActor } from 'xstate';

/**
 * The same machine, for graph traversal: each transition gets a fresh actor system.
 * xstate/graph shares one mock system across the whole traversal, so a `systemId`
 * registered while exploring one branch collides with the same id spawned in another
 * ("Actor with system ID … already exists"). Behaviour is otherwise untouched.
 */
export function forTraversal<T extends AnyStateMachine>(machine: T): T {
  const logic = Object.create(machine) as T;
  logic.transition = ((snapshot: never, event: never, actorScope: object) => {
    // Spawned children join their parent's system, so `self` must be fresh too.
    const self = createEmptyActor();
    return machine.transition(snapshot, event, { ...actorScope, self, system: self.system } as never);
  }) as never;
  return logic;
}
