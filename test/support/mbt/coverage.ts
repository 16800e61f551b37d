import type { AnyStateMachine, InspectionEvent } from 'xstate';

interface StateNodeLike {
  id: string;
  transitions: Map<string, unknown[]>;
  always?: unknown[];
  states: Record<string, StateNodeLike>;
}

interface TransitionLike {
  source: { id: string };
  eventType: string;
}

/** Every transition a machine defines, as `source|event|index` (guarded alternatives count separately). */
export function allTransitionKeys(machine: AnyStateMachine): string[] {
  const keys: string[] = [];
  const walk = (node: StateNodeLike) => {
    for (const [eventType, definitions] of node.transitions) {
      for (const index of definitions.keys()) keys.push(`${node.id}|${eventType}|${index}`);
    }
    for (const index of (node.always ?? []).keys()) keys.push(`${node.id}|always|${index}`);
    for (const child of Object.values(node.states)) walk(child);
  };
  walk(machine.root as unknown as StateNodeLike);
  return keys.sort();
}

function keyOf(transition: TransitionLike): string {
  const source = transition.source as unknown as StateNodeLike;
  if (transition.eventType === '') {
    const index = (source.always ?? []).indexOf(transition);
    return `${source.id}|always|${index}`;
  }
  const definitions = source.transitions.get(transition.eventType) ?? [];
  return `${source.id}|${transition.eventType}|${definitions.indexOf(transition)}`;
}

/**
 * Records which transition definitions a running actor really took, from the
 * inspector's microsteps — coverage measured on the system under test, not the model.
 */
export class TransitionCoverage {
  readonly taken = new Set<string>();

  constructor(private readonly machine: AnyStateMachine) {}

  /** Pass as `createActor(…, { inspect: coverage.observer(actorFilter) })`. */
  observer(belongsToMachine: (event: InspectionEvent) => boolean = () => true) {
    return (event: InspectionEvent) => {
      if (event.type !== '@xstate.microstep' || !belongsToMachine(event)) return;
      for (const transition of (event as unknown as { _transitions: TransitionLike[] })._transitions) {
        this.taken.add(keyOf(transition));
      }
    };
  }

  missing(): string[] {
    return allTransitionKeys(this.machine).filter((key) => !this.taken.has(key));
  }

  ratio(): number {
    const all = allTransitionKeys(this.machine);
    return all.filter((key) => this.taken.has(key)).length / all.length;
  }
}
