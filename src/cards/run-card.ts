import type { RunOutcome, ToolCall } from '../agents/types.js';
import { codeBlock, displayCommand, inlineCode, tail } from './markdown.js';
import { answerText, type RunState } from './run-state.js';
import type { RunView } from './run-view.js';

/** Facts about the run that are not agent events. */
export interface RunCardContext {
  elapsedMs: number;
  workspace: string;
  sandbox: string;
  agent: string;
}

/** The card for a run at any stage: waiting, working, or finished. Card JSON 2.0. */
export function renderRunCard(view: RunView, options: { agent: string; now: number }): CardJson {
  const context: RunCardContext = {
    elapsedMs: view.startedAt ? (view.endedAt ?? options.now) - view.startedAt : 0,
    workspace: view.settings?.workspace ?? '',
    sandbox: view.settings?.sandbox ?? '',
    agent: options.agent,
  };
  if (view.stage === 'finished') {
    const state = view.note && !view.agent.error ? { ...view.agent, error: view.note } : view.agent;
    return renderFinalRunCard(state, context);
  }
  return renderLiveRunCard(view, context);
}

function liveHeader(view: RunView): { title: string; template: string } {
  if (view.stage === 'preparing') return { title: '⏳ Starting', template: 'blue' };
  if (view.stage === 'waiting_for_slot') {
    return { title: `⏳ Waiting for a free slot (position ${view.queuePosition ?? 1})`, template: 'grey' };
  }
  if (view.agent.phase === 'tool') return { title: '🔧 Running a tool', template: 'blue' };
  return { title: '🤔 Thinking', template: 'blue' };
}

function renderLiveRunCard(view: RunView, context: RunCardContext): CardJson {
  const header = liveHeader(view);
  const elements: CardJson[] = [];
  const answer = answerText(view.agent);
  if (answer) elements.push({ tag: 'markdown', element_id: 'answer', content: answer });
  const tools = view.agent.blocks.flatMap((b) => (b.kind === 'tool' ? [b.tool] : []));
  if (tools.length > 0) {
    if (answer) elements.push({ tag: 'hr' });
    for (const tool of tools) elements.push(toolPanel(tool));
  }
  if (elements.length === 0) {
    const waiting = view.stage === 'waiting_for_slot';
    elements.push({
      tag: 'markdown',
      element_id: 'answer',
      content: waiting
        ? '_Other runs are using every slot; this one starts as soon as one frees up._'
        : '_Working on it…_',
    });
  }
  elements.push({ tag: 'hr' });
  elements.push({ tag: 'markdown', text_size: 'notation', content: footer(view.agent, context) });
  return {
    schema: '2.0',
    config: { update_multi: true, summary: { content: header.title } },
    header: { title: { tag: 'plain_text', content: header.title }, template: header.template },
    body: { elements },
  };
}

export type CardJson = Record<string, unknown>;

const OUTCOME_HEADER: Record<RunOutcome, { title: string; template: string }> = {
  completed: { title: '✅ Done', template: 'green' },
  interrupted: { title: '⏹ Interrupted', template: 'grey' },
  timeout: { title: '⏱ Timed out', template: 'orange' },
  failed: { title: '❌ Failed', template: 'red' },
};

const OUTPUT_TAIL_CHARS = 1500;

/** The card shown when a run has ended: outcome, answer, tool calls, footer. Card JSON 2.0. */
export function renderFinalRunCard(state: RunState, context: RunCardContext): CardJson {
  const outcome = state.outcome ?? 'failed';
  const header = OUTCOME_HEADER[outcome];
  const elements: CardJson[] = [];

  const answer = answerText(state);
  if (answer) elements.push({ tag: 'markdown', element_id: 'answer', content: answer });
  if (state.error) {
    elements.push({ tag: 'markdown', element_id: 'error', content: `**Error:** ${state.error}` });
  }
  if (!answer && !state.error) {
    elements.push({ tag: 'markdown', element_id: 'answer', content: emptyAnswerNote(outcome) });
  }

  const tools = state.blocks.flatMap((b) => (b.kind === 'tool' ? [b.tool] : []));
  if (tools.length > 0) {
    elements.push({ tag: 'hr' });
    for (const tool of tools) elements.push(toolPanel(tool));
  }

  elements.push({ tag: 'hr' });
  elements.push({ tag: 'markdown', text_size: 'notation', content: footer(state, context) });

  return {
    schema: '2.0',
    config: { update_multi: true, summary: { content: summaryLine(outcome, answer) } },
    header: { title: { tag: 'plain_text', content: header.title }, template: header.template },
    body: { elements },
  };
}

function emptyAnswerNote(outcome: RunOutcome): string {
  if (outcome === 'completed') return '_The agent finished without a written answer._';
  if (outcome === 'interrupted') return '_The run was stopped before the agent answered._';
  if (outcome === 'timeout') return '_The run timed out before the agent answered._';
  return '_The run failed before the agent answered._';
}

function summaryLine(outcome: RunOutcome, answer: string): string {
  const first = answer
    .replace(/[*_`#>~]/g, '')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 60);
  return first || OUTCOME_HEADER[outcome].title;
}

const STATUS_ICON = { started: '⏳', updated: '⏳', completed: '✅', failed: '❌' } as const;

export function toolTitle(tool: ToolCall): string {
  const icon = STATUS_ICON[tool.status];
  switch (tool.kind) {
    case 'command': {
      const exit = tool.exitCode === undefined ? '' : ` · exit ${tool.exitCode}`;
      return `${icon} ${inlineCode(tail(displayCommand(tool.command), 200))}${exit}`;
    }
    case 'file_change':
      return `${icon} Edited ${tool.changes.length} file${tool.changes.length === 1 ? '' : 's'}`;
    case 'mcp':
      return `${icon} MCP ${inlineCode(`${tool.server}.${tool.tool}`)}`;
    case 'web_search':
      return `${icon} Web search ${inlineCode(tool.query)}`;
    case 'todo': {
      const done = tool.items.filter((i) => i.done).length;
      return `${icon} Plan ${done}/${tool.items.length}`;
    }
  }
}

function toolBody(tool: ToolCall): string {
  switch (tool.kind) {
    case 'command':
      return tool.output.trim() ? codeBlock(tail(tool.output.trimEnd(), OUTPUT_TAIL_CHARS)) : '_no output_';
    case 'file_change':
      return tool.changes.map((c) => `${changeMark(c.change)} ${inlineCode(c.path)}`).join('\n');
    case 'mcp':
      return tool.error ? `Error: ${tool.error}` : '_done_';
    case 'web_search':
      return tool.query;
    case 'todo':
      return tool.items.map((i) => `${i.done ? '☑' : '☐'} ${i.text}`).join('\n');
  }
}

function changeMark(change: 'add' | 'delete' | 'update'): string {
  return change === 'add' ? '+' : change === 'delete' ? '−' : '±';
}

function toolPanel(tool: ToolCall): CardJson {
  return {
    tag: 'collapsible_panel',
    expanded: false,
    header: { title: { tag: 'markdown', content: toolTitle(tool) } },
    border: { color: 'grey', corner_radius: '5px' },
    elements: [{ tag: 'markdown', content: toolBody(tool) }],
  };
}

function footer(state: RunState, context: RunCardContext): string {
  const parts = [`⏱ ${formatElapsed(context.elapsedMs)}`];
  if (state.usage) {
    // Codex reports thread totals; per-turn deltas need the previous turn's figures.
    const scope = state.usage.cumulative ? ' (thread total)' : '';
    parts.push(`🔢 ${state.usage.inputTokens} in / ${state.usage.outputTokens} out${scope}`);
  }
  parts.push(`🤖 ${context.agent}`, `📁 ${context.workspace}`, `🔒 ${context.sandbox}`);
  return parts.join(' · ');
}

export function formatElapsed(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes}m ${seconds % 60}s`;
}
