import type { AgentEvent, RunOutcome, TokenUsage, ToolCall } from '../agents/types.js';

/** A block that is the event it came from, minus its `type`. */
type BlockOf<T extends AgentEvent['type'], K extends string> = { kind: K } & Omit<
  Extract<AgentEvent, { type: T }>,
  'type'
>;

/** One visible piece of a run, in the order the agent produced it. */
export type RunBlock =
  | { kind: 'text'; itemId: string; text: string }
  | { kind: 'reasoning'; itemId: string; text: string }
  | { kind: 'tool'; tool: ToolCall }
  /** A message sent during the run that reached it. */
  | BlockOf<'steered', 'steer'>
  | BlockOf<'approval', 'approval'>
  | BlockOf<'question', 'question'>;

/** `approval` / `question`: the agent waits for a person. */
export type RunPhase = 'waiting' | 'thinking' | 'tool' | 'approval' | 'question' | 'finished';

/** Everything a run card shows, folded from AgentEvents by {@link reduceRunState}. */
export interface RunState {
  runId: string;
  phase: RunPhase;
  outcome?: RunOutcome;
  error?: string;
  blocks: RunBlock[];
  notices: string[];
  sessionId?: string;
  usage?: TokenUsage;
}

export function initialRunState(runId: string): RunState {
  return { runId, phase: 'waiting', blocks: [], notices: [] };
}

export function reduceRunState(state: RunState, event: AgentEvent): RunState {
  if (state.phase === 'finished') return state;
  switch (event.type) {
    case 'session':
      return {
        ...state,
        sessionId: event.sessionId,
        phase: state.phase === 'waiting' ? 'thinking' : state.phase,
      };
    case 'text': {
      const blocks = upsertText(state.blocks, 'text', event.itemId, event.text, event.mode);
      return { ...state, phase: phaseAfterPerson(blocks, 'thinking'), blocks };
    }
    case 'reasoning': {
      const blocks = upsertText(state.blocks, 'reasoning', event.itemId, event.text, 'whole');
      return { ...state, phase: phaseAfterPerson(blocks, 'thinking'), blocks };
    }
    case 'tool': {
      const running = event.tool.status === 'started' || event.tool.status === 'updated';
      const blocks = upsertTool(state.blocks, event.tool);
      return { ...state, phase: phaseAfterPerson(blocks, running ? 'tool' : 'thinking'), blocks };
    }
    case 'notice':
      return { ...state, notices: [...state.notices, event.message] };
    case 'steered': {
      const { type: _type, ...steer } = event;
      return { ...state, blocks: [...state.blocks, { kind: 'steer', ...steer }] };
    }
    case 'approval': {
      const { type: _type, ...approval } = event;
      const blocks = upsertBy(
        state.blocks,
        { kind: 'approval', ...approval },
        (b) => b.kind === 'approval' && b.request.id === event.request.id,
      );
      return { ...state, blocks, phase: phaseAfterPerson(blocks, state.phase) };
    }
    case 'question': {
      const { type: _type, ...question } = event;
      const blocks = upsertBy(
        state.blocks,
        { kind: 'question', ...question },
        (b) => b.kind === 'question' && b.question.id === event.question.id,
      );
      return { ...state, blocks, phase: phaseAfterPerson(blocks, state.phase) };
    }
    case 'usage':
      return { ...state, usage: event.usage };
    case 'done':
      return {
        ...state,
        phase: 'finished',
        outcome: event.outcome,
        ...(event.error ? { error: event.error } : {}),
      };
  }
}

function upsertText(
  blocks: RunBlock[],
  kind: 'text' | 'reasoning',
  itemId: string,
  text: string,
  mode: 'delta' | 'whole',
): RunBlock[] {
  const index = blocks.findIndex((b) => b.kind === kind && b.itemId === itemId);
  if (index === -1) return [...blocks, { kind, itemId, text }];
  const existing = blocks[index] as { kind: typeof kind; itemId: string; text: string };
  const next = { kind, itemId, text: mode === 'delta' ? existing.text + text : text };
  return blocks.map((b, i) => (i === index ? next : b));
}

function upsertBy(blocks: RunBlock[], block: RunBlock, same: (b: RunBlock) => boolean): RunBlock[] {
  const index = blocks.findIndex(same);
  if (index === -1) return [...blocks, block];
  return blocks.map((b, i) => (i === index ? block : b));
}

/** Waiting on a person while any approval or question is open; otherwise back to work. */
function phaseAfterPerson(blocks: RunBlock[], phase: RunPhase): RunPhase {
  if (blocks.some((b) => b.kind === 'approval' && b.status === 'pending')) return 'approval';
  if (blocks.some((b) => b.kind === 'question' && b.status === 'pending')) return 'question';
  return phase === 'approval' || phase === 'question' ? 'thinking' : phase;
}

/** Open approvals and questions, for the header. */
export function pendingPeople(state: RunState): Extract<RunBlock, { kind: 'approval' | 'question' }>[] {
  return state.blocks.filter(
    (b): b is Extract<RunBlock, { kind: 'approval' | 'question' }> =>
      (b.kind === 'approval' || b.kind === 'question') && b.status === 'pending',
  );
}

function upsertTool(blocks: RunBlock[], tool: ToolCall): RunBlock[] {
  const index = blocks.findIndex((b) => b.kind === 'tool' && b.tool.id === tool.id);
  if (index === -1) return [...blocks, { kind: 'tool', tool }];
  return blocks.map((b, i) => (i === index ? { kind: 'tool', tool } : b));
}

/** The agent's answer: every text block, in order. */
export function answerText(state: RunState): string {
  return state.blocks
    .filter((b): b is Extract<RunBlock, { kind: 'text' }> => b.kind === 'text')
    .map((b) => b.text)
    .join('\n\n');
}

export function commandsRun(state: RunState): Extract<ToolCall, { kind: 'command' }>[] {
  return state.blocks.flatMap((b) => (b.kind === 'tool' && b.tool.kind === 'command' ? [b.tool] : []));
}
