import type { AgentEvent, RunOutcome, TokenUsage, ToolCall } from '../agents/types.js';

/** One visible piece of a run, in the order the agent produced it. */
export type RunBlock =
  | { kind: 'text'; itemId: string; text: string }
  | { kind: 'reasoning'; itemId: string; text: string }
  | { kind: 'tool'; tool: ToolCall };

export type RunPhase = 'waiting' | 'thinking' | 'tool' | 'finished';

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
    case 'text':
      return {
        ...state,
        phase: 'thinking',
        blocks: upsertText(state.blocks, 'text', event.itemId, event.text, event.mode),
      };
    case 'reasoning':
      return {
        ...state,
        phase: 'thinking',
        blocks: upsertText(state.blocks, 'reasoning', event.itemId, event.text, 'whole'),
      };
    case 'tool': {
      const running = event.tool.status === 'started' || event.tool.status === 'updated';
      return { ...state, phase: running ? 'tool' : 'thinking', blocks: upsertTool(state.blocks, event.tool) };
    }
    case 'notice':
      return { ...state, notices: [...state.notices, event.message] };
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
