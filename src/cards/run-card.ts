import type { RunOutcome, TokenUsage, ToolCall } from '../agents/types.js';
import { cardElementCount, cardTableCount, splitMarkdown, utf8Bytes } from './card-budget.js';
import {
  approvalSubject,
  codeBlock,
  displayCommand,
  escapeMarkdown,
  inlineCode,
  mentionIds,
  tail,
} from './markdown.js';
import { answerText, type RunBlock } from './run-state.js';
import type { RunView } from './run-view.js';

export type CardJson = Record<string, unknown>;

/**
 * What one card may hold. Feishu's hard limits are 30 KB, 200 components and 3 markdown
 * tables (research: feishu-platform.md §1.1); we stay well inside so that headers, footers,
 * JSON escaping and a growing stream never push a card over.
 */
export interface CardBudget {
  maxBytes: number;
  maxElements: number;
  maxTables: number;
}

export const CARD_BUDGET: CardBudget = { maxBytes: 24 * 1024, maxElements: 150, maxTables: 3 };

/** Facts a card shows that are not in the run's view. */
export interface RunCardChrome {
  agent: string;
  model?: string;
  now: number;
  /** Show the agent's reasoning as a collapsed panel (a profile setting). */
  showReasoning: boolean;
  /** The signed callback value behind the Stop button; no button without it. */
  stopAction?: Record<string, unknown>;
  budget?: CardBudget;
}

/**
 * Where a page's content starts: blocks from `block` on, plus whatever text blocks before it
 * gained after their page was sealed (`shown`: characters of each text block already shown).
 */
export interface PageCursor {
  block: number;
  shown: Readonly<Record<number, number>>;
}

export const FIRST_PAGE: PageCursor = { block: 0, shown: {} };

/** One card of a run. A run shows on one card, continued on more when one would overflow. */
export interface RunPage {
  card: CardJson;
  /** The markdown element a live page streams into (the answer being written), if any. */
  stream?: { elementId: string; text: string };
  /** Where the next page starts (meaningful for sealed pages). */
  end: PageCursor;
}

export interface PagedRun {
  /** Pages that filled up: finish them as they are and continue on the next. */
  sealed: RunPage[];
  /** The page that shows the run's current state (live, or final once the run ended). */
  last: RunPage;
}

/**
 * Lay a run out on cards, starting at `from` (earlier pages were already sealed). Content
 * fills the page in the order the agent produced it; a page that would exceed the budget is
 * sealed at a paragraph boundary — fenced code closed and reopened on the next page, tool
 * panels never split — and the rest continues on a new page.
 */
export function paginateRun(
  view: RunView,
  from: PageCursor,
  pageNumber: number,
  chrome: RunCardChrome,
): PagedRun {
  const budget = chrome.budget ?? CARD_BUDGET;
  const pieces = contentPieces(view, chrome);
  const sealed: RunPage[] = [];
  let cursor = from;
  let page = pageNumber;
  for (;;) {
    const filled = fillPage(view, pieces, cursor, page, chrome, budget);
    if (!filled.overflow) return { sealed, last: filled.page };
    sealed.push(filled.page);
    // A page that could not take anything would loop forever; fillPage always takes one piece.
    cursor = filled.page.end;
    page++;
  }
}

/** One page for the whole run (the single-card view, e.g. for tests and snapshots). */
export function renderRunCard(view: RunView, chrome: RunCardChrome): CardJson {
  return paginateRun(view, FIRST_PAGE, 1, {
    ...chrome,
    budget: { maxBytes: 1e9, maxElements: 1e9, maxTables: 1e9 },
  }).last.card;
}

// ── content ────────────────────────────────────────────────────────────────────────────────

/** A run's content as the cards show it, in order. Text pieces can split; panels cannot. */
type Piece =
  | { kind: 'text'; block: number; text: string; elementId: string; streamable: boolean }
  | { kind: 'panel'; block: number; element: CardJson; running: boolean }
  | { kind: 'reasoning'; block: number; text: string };

function contentPieces(view: RunView, chrome: RunCardChrome): Piece[] {
  const pieces: Piece[] = [];
  const blocks = view.agent.blocks;
  const lastText = findLastIndex(blocks, (b) => b.kind === 'text');
  blocks.forEach((block: RunBlock, index) => {
    switch (block.kind) {
      case 'text':
        if (block.text)
          pieces.push({
            kind: 'text',
            block: index,
            text: block.text,
            elementId: `t${index}`,
            streamable: index === lastText && view.stage !== 'finished',
          });
        return;
      case 'reasoning':
        if (chrome.showReasoning && block.text.trim())
          pieces.push({ kind: 'reasoning', block: index, text: block.text });
        return;
      case 'tool':
        pieces.push({
          kind: 'panel',
          block: index,
          element: toolPanel(block.tool),
          running: block.tool.status === 'started' || block.tool.status === 'updated',
        });
        return;
      case 'steer':
      case 'approval':
      case 'question':
        pieces.push({ kind: 'panel', block: index, element: personLine(block), running: false });
        return;
    }
  });
  return pieces;
}

function findLastIndex<T>(items: T[], predicate: (item: T) => boolean): number {
  for (let i = items.length - 1; i >= 0; i--) if (predicate(items[i] as T)) return i;
  return -1;
}

// ── filling one page ───────────────────────────────────────────────────────────────────────

interface Filled {
  page: RunPage;
  overflow: boolean;
}

/** What went on a page, to seal it at the right place. */
interface Placed {
  element: CardJson;
  piece: Piece;
  /** Characters of a text piece shown once this element is on a page. */
  shownUpTo?: number;
}

function fillPage(
  view: RunView,
  pieces: Piece[],
  from: PageCursor,
  pageNumber: number,
  chrome: RunCardChrome,
  budget: CardBudget,
): Filled {
  const placed: Placed[] = [];
  let stream: RunPage['stream'];
  const live = liveOrFinalFrame(view, pageNumber, chrome);
  const sealed = sealedFrame(pageNumber);
  const body = () => placed.map((p) => p.element);
  // Measured against both frames, so sealing a page can never make it overflow. Totals are kept
  // as elements are placed: measuring the whole card for every candidate is quadratic.
  const room = roomLeft(budget, measureFrame(live), measureFrame(sealed));
  const used = { bytes: 0, elements: 0, tables: 0 };
  const fitsWith = (element: CardJson) => {
    const m = measureElement(element);
    return (
      used.bytes + m.bytes <= room.bytes &&
      used.elements + m.elements <= room.elements &&
      used.tables + m.tables <= room.tables
    );
  };
  const place = (entry: Placed) => {
    const m = measureElement(entry.element);
    used.bytes += m.bytes;
    used.elements += m.elements;
    used.tables += m.tables;
    placed.push(entry);
  };

  for (const piece of pieces) {
    // Blocks of sealed pages come back only for text they gained since.
    if (piece.block < from.block && piece.kind === 'panel') continue;
    const offset = from.shown[piece.block] ?? 0;
    if (piece.kind === 'panel') {
      // A page always takes at least one piece, so a run can never stall on an oversized one.
      if (placed.length > 0 && !fitsWith(piece.element)) return seal(placed, piece, 0);
      place({ element: piece.element, piece });
      continue;
    }
    const start = offset;
    const text = piece.text.slice(start);
    if (!text.trim()) continue;
    const reopen = splitMarkdown.reopenFenceAt(piece.text, start);
    const render = (part: string): CardJson =>
      piece.kind === 'text'
        ? { tag: 'markdown', element_id: piece.elementId, content: part }
        : reasoningPanel(part);
    const whole = render(reopen + text);
    if (fitsWith(whole)) {
      place({ element: whole, piece, shownUpTo: piece.text.length });
      if (piece.kind === 'text' && piece.streamable)
        stream = { elementId: piece.elementId, text: reopen + text };
      continue;
    }
    // The largest fence-safe prefix that still fits stays here; the rest continues on the next page.
    let cut = splitMarkdown.largestFittingCut(text, reopen, (part) => fitsWith(render(part)));
    if (cut === 0 && placed.length === 0) {
      cut = Math.min(text.length, Math.max(1, Math.floor(budget.maxBytes / 8)));
    }
    if (cut > 0) {
      const part = render(splitMarkdown.closeFences(reopen + text.slice(0, cut)));
      place({ element: part, piece, shownUpTo: start + cut });
    }
    return seal(placed, piece, start + cut);
  }
  return {
    overflow: false,
    page: {
      card: assemble(live, placed.length > 0 ? body() : [placeholder(view)]),
      end: cursorAfter(
        from,
        placed,
        pieces.length > 0 ? (pieces[pieces.length - 1] as Piece).block + 1 : from.block,
      ),
      ...(stream ? { stream } : {}),
    },
  };

  /**
   * Seal before `next` (which starts at `nextOffset`) — or earlier, before the first tool
   * still running, so that a sealed card never shows a tool as running forever.
   */
  function seal(onPage: Placed[], next: Piece, nextOffset: number): Filled {
    const firstRunning = onPage.findIndex((p) => p.piece.kind === 'panel' && p.piece.running);
    const keep = firstRunning > 0 ? onPage.slice(0, firstRunning) : onPage;
    const end =
      keep === onPage
        ? cursorAfter(from, keep, next.block, next.kind === 'panel' ? undefined : nextOffset)
        : cursorAfter(from, keep, (onPage[firstRunning] as Placed).piece.block);
    return {
      overflow: true,
      page: {
        card: assemble(
          sealed,
          keep.map((p) => p.element),
        ),
        end,
      },
    };
  }
}

/** The cursor after a page: text shown so far per block, continuing at `block`. */
function cursorAfter(from: PageCursor, placed: Placed[], block: number, blockOffset?: number): PageCursor {
  const shown: Record<number, number> = {};
  for (const [key, value] of Object.entries(from.shown)) if (Number(key) < block) shown[Number(key)] = value;
  for (const p of placed)
    if (p.shownUpTo !== undefined && p.piece.block < block) shown[p.piece.block] = p.shownUpTo;
  if (blockOffset !== undefined && blockOffset > 0) shown[block] = blockOffset;
  return { block, shown };
}

interface Measure {
  bytes: number;
  elements: number;
  tables: number;
}

/** A card's size as Feishu counts it, for a frame with no content. */
function measureFrame(frame: Frame): Measure {
  const card = assemble(frame, []);
  return {
    bytes: utf8Bytes(JSON.stringify(card)),
    elements: cardElementCount(card),
    tables: cardTableCount(card),
  };
}

/** What one body element adds: its JSON and a comma (a frame always has elements after the body). */
function measureElement(element: CardJson): Measure {
  const alone = { body: { elements: [element] } };
  return {
    bytes: utf8Bytes(JSON.stringify(element)) + 1,
    elements: cardElementCount(alone),
    tables: cardTableCount(alone),
  };
}

function roomLeft(budget: CardBudget, ...frames: Measure[]): Measure {
  return {
    bytes: budget.maxBytes - Math.max(...frames.map((f) => f.bytes)),
    elements: budget.maxElements - Math.max(...frames.map((f) => f.elements)),
    tables: budget.maxTables - Math.max(...frames.map((f) => f.tables)),
  };
}

// ── frames: header, footer, buttons ────────────────────────────────────────────────────────

interface Frame {
  title: string;
  template: string;
  summary: string;
  /** Elements after the content: status notes, footer, buttons. */
  tail: CardJson[];
}

function assemble(frame: Frame, body: CardJson[]): CardJson {
  return {
    schema: '2.0',
    config: { update_multi: true, summary: { content: frame.summary } },
    header: { title: { tag: 'plain_text', content: frame.title }, template: frame.template },
    body: { elements: [...body, ...frame.tail] },
  };
}

const OUTCOME_HEADER: Record<RunOutcome, { title: string; template: string }> = {
  completed: { title: '✅ Done', template: 'green' },
  interrupted: { title: '⏹ Interrupted', template: 'grey' },
  timeout: { title: '⏱ Timed out', template: 'orange' },
  failed: { title: '❌ Failed', template: 'red' },
};

function partSuffix(pageNumber: number): string {
  return pageNumber > 1 ? ` · part ${pageNumber}` : '';
}

function sealedFrame(pageNumber: number): Frame {
  return {
    title: `📄 Part ${pageNumber}, continued below`,
    template: 'grey',
    summary: `Part ${pageNumber}, continued below`,
    tail: [{ tag: 'markdown', text_size: 'notation', content: '_continued ↓_' }],
  };
}

function liveOrFinalFrame(view: RunView, pageNumber: number, chrome: RunCardChrome): Frame {
  const suffix = partSuffix(pageNumber);
  if (view.stage === 'finished') {
    const outcome = view.agent.outcome ?? 'failed';
    const header = OUTCOME_HEADER[outcome];
    const tail: CardJson[] = [];
    const error = view.agent.error ?? view.note;
    if (error)
      tail.push({ tag: 'markdown', element_id: 'error', content: `**${errorLabel(outcome)}:** ${error}` });
    if (!answerText(view.agent) && !error) tail.push({ tag: 'markdown', content: emptyAnswerNote(outcome) });
    tail.push(...noticeElements(view), { tag: 'hr' }, footerElement(view, chrome));
    return {
      title: header.title + suffix,
      template: header.template,
      summary: summaryLine(view, outcome),
      tail,
    };
  }
  const header = liveHeader(view);
  const tail: CardJson[] = [...noticeElements(view), { tag: 'hr' }, footerElement(view, chrome)];
  if (chrome.stopAction) tail.push(stopButton(chrome.stopAction));
  return { title: header.title + suffix, template: header.template, summary: header.title, tail };
}

function liveHeader(view: RunView): { title: string; template: string } {
  if (view.stage === 'preparing') return { title: '⏳ Starting', template: 'blue' };
  if (view.stage === 'waiting_for_slot') {
    return { title: `⏳ Waiting for a free slot (position ${view.queuePosition ?? 1})`, template: 'grey' };
  }
  if (view.agent.phase === 'approval') return { title: '⏸ Waiting for approval', template: 'orange' };
  if (view.agent.phase === 'question') return { title: '❓ Waiting for your answer', template: 'orange' };
  if (view.agent.phase === 'tool') {
    const running = runningTool(view);
    const what = running?.kind === 'command' ? `: ${shorten(displayCommand(running.command), 40)}` : '';
    return { title: `🔧 Running a tool${what}`, template: 'wathet' };
  }
  return { title: '🤔 Thinking', template: 'blue' };
}

const APPROVAL_MARK = { pending: '⏸', approved: '✅', denied: '⛔' } as const;
const QUESTION_MARK = { pending: '❓', answered: '💬', expired: '⌛' } as const;

/** One line in the run's flow for what people did: a steer, an approval, a question. */
function personLine(block: Extract<RunBlock, { kind: 'steer' | 'approval' | 'question' }>): CardJson {
  let content: string;
  if (block.kind === 'steer') {
    const who = block.by
      ? `${mentionIds(block.by, escapeMarkdown)} added during the run`
      : 'Added during the run';
    content = `↪ ${who}: ${escapeMarkdown(shorten(block.text, 600))}`;
  } else if (block.kind === 'approval') {
    const what = approvalSubject(block.request);
    const status =
      block.status === 'pending'
        ? 'waiting for approval'
        : block.status === 'approved'
          ? 'approved'
          : 'denied';
    const note = block.note ? ` — ${mentionIds(shorten(block.note, 200), escapeMarkdown)}` : '';
    content = `${APPROVAL_MARK[block.status]} ${what}: **${status}**${note}`;
  } else {
    const asked = escapeMarkdown(shorten(block.question.questions.map((q) => q.question).join(' / '), 300));
    const answer =
      block.status === 'answered' && block.answers
        ? ` → **${escapeMarkdown(shorten(Object.values(block.answers).flat().join(', '), 300))}**`
        : block.status === 'expired'
          ? ' → _nobody answered in time_'
          : ' — _waiting for your answer_';
    content = `${QUESTION_MARK[block.status]} ${asked}${answer}`;
  }
  return { tag: 'markdown', text_size: 'notation', content };
}

function shorten(text: string, max: number): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > max ? `${oneLine.slice(0, max - 1)}…` : oneLine;
}

function runningTool(view: RunView): ToolCall | undefined {
  for (let i = view.agent.blocks.length - 1; i >= 0; i--) {
    const block = view.agent.blocks[i];
    if (block?.kind === 'tool' && (block.tool.status === 'started' || block.tool.status === 'updated'))
      return block.tool;
  }
  return undefined;
}

function placeholder(view: RunView): CardJson {
  if (view.stage === 'finished') return { tag: 'markdown', element_id: 'status', content: ' ' };
  const waiting = view.stage === 'waiting_for_slot';
  return {
    tag: 'markdown',
    element_id: 'status',
    content: waiting
      ? '_Other runs are using every slot; this one starts as soon as one frees up._'
      : '_Working on it…_',
  };
}

function stopButton(value: Record<string, unknown>): CardJson {
  return {
    tag: 'button',
    element_id: 'stop',
    type: 'danger',
    size: 'small',
    text: { tag: 'plain_text', content: 'Stop' },
    behaviors: [{ type: 'callback', value }],
  };
}

function noticeElements(view: RunView): CardJson[] {
  if (view.agent.notices.length === 0) return [];
  const lines = view.agent.notices.slice(-5).map((n) => `⚠️ ${n}`);
  return [{ tag: 'markdown', text_size: 'notation', content: lines.join('\n') }];
}

function errorLabel(outcome: RunOutcome): string {
  return outcome === 'completed' ? 'Note' : outcome === 'failed' ? 'Error' : 'Why';
}

function emptyAnswerNote(outcome: RunOutcome): string {
  if (outcome === 'completed') return '_The agent finished without a written answer._';
  if (outcome === 'interrupted') return '_The run was stopped before the agent answered._';
  if (outcome === 'timeout') return '_The run timed out before the agent answered._';
  return '_The run failed before the agent answered._';
}

function summaryLine(view: RunView, outcome: RunOutcome): string {
  const first = answerText(view.agent)
    .replace(/[*_`#>~|]/g, '')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 60);
  return first || OUTCOME_HEADER[outcome].title;
}

// ── tool panels ────────────────────────────────────────────────────────────────────────────

const STATUS_ICON = { started: '⏳', updated: '⏳', completed: '✅', failed: '❌' } as const;
const OUTPUT_TAIL_CHARS = 1500;

export function toolTitle(tool: ToolCall): string {
  const icon = STATUS_ICON[tool.status];
  switch (tool.kind) {
    case 'command': {
      const exit = tool.exitCode === undefined ? '' : ` · exit ${tool.exitCode}`;
      return `${icon} ${inlineCode(tail(displayCommand(tool.command), 200))}${exit}`;
    }
    case 'file_change': {
      const count = tool.changes.length;
      const marks = tool.changes.map((c) => changeMark(c.change)).join('');
      return `${icon} Edited ${count} file${count === 1 ? '' : 's'} ${marks.slice(0, 20)}`.trimEnd();
    }
    case 'mcp':
      return `${icon} MCP ${inlineCode(`${tool.server}.${tool.tool}`)}`;
    case 'web_search':
      return `${icon} Web search ${inlineCode(tail(tool.query, 200))}`;
    case 'todo': {
      const done = tool.items.filter((i) => i.done).length;
      return `${icon} Plan ${done}/${tool.items.length}`;
    }
  }
}

function toolBody(tool: ToolCall): string {
  switch (tool.kind) {
    case 'command':
      if (tool.output.trim()) return codeBlock(tail(tool.output.trimEnd(), OUTPUT_TAIL_CHARS));
      return tool.status === 'started' || tool.status === 'updated' ? '_running…_' : '_no output_';
    case 'file_change':
      return tool.changes
        .slice(0, 50)
        .map((c) => `${changeMark(c.change)} ${inlineCode(c.path)}`)
        .concat(tool.changes.length > 50 ? [`_… and ${tool.changes.length - 50} more_`] : [])
        .join('\n');
    case 'mcp':
      return tool.error ? `Error: ${tool.error}` : '_done_';
    case 'web_search':
      return tool.query;
    case 'todo': {
      const done = tool.items.filter((i) => i.done).length;
      const bar =
        tool.items.length > 0
          ? `${progressBar(done / tool.items.length)} ${done}/${tool.items.length}\n`
          : '';
      return bar + tool.items.map((i) => `${i.done ? '☑' : '☐'} ${i.text}`).join('\n');
    }
  }
}

function progressBar(fraction: number): string {
  const filled = Math.round(Math.max(0, Math.min(1, fraction)) * 10);
  return `${'▓'.repeat(filled)}${'░'.repeat(10 - filled)}`;
}

function changeMark(change: 'add' | 'delete' | 'update'): string {
  return change === 'add' ? '+' : change === 'delete' ? '−' : '±';
}

const TOOL_ICON: Record<ToolCall['kind'], string> = {
  command: '💻',
  file_change: '📝',
  mcp: '🔌',
  web_search: '🔍',
  todo: '📋',
};

function toolPanel(tool: ToolCall): CardJson {
  return {
    tag: 'collapsible_panel',
    expanded: false,
    header: { title: { tag: 'markdown', content: `${TOOL_ICON[tool.kind]} ${toolTitle(tool)}` } },
    border: { color: 'grey', corner_radius: '5px' },
    elements: [{ tag: 'markdown', content: toolBody(tool) }],
  };
}

function reasoningPanel(text: string): CardJson {
  return {
    tag: 'collapsible_panel',
    expanded: false,
    header: { title: { tag: 'markdown', content: '💭 Reasoning' } },
    border: { color: 'grey', corner_radius: '5px' },
    elements: [{ tag: 'markdown', text_size: 'notation', content: text }],
  };
}

// ── footer ─────────────────────────────────────────────────────────────────────────────────

function footerElement(view: RunView, chrome: RunCardChrome): CardJson {
  return { tag: 'markdown', element_id: 'footer', text_size: 'notation', content: footerText(view, chrome) };
}

export function footerText(view: RunView, chrome: RunCardChrome): string {
  const parts: string[] = [];
  if (view.startedAt) parts.push(`⏱ ${formatElapsed((view.endedAt ?? chrome.now) - view.startedAt)}`);
  const tokens = turnTokens(view);
  if (tokens) parts.push(tokens);
  parts.push(`🤖 ${chrome.agent}${chrome.model ? ` · ${chrome.model}` : ''}`);
  if (view.settings) parts.push(`📁 ${view.settings.workspace}`, `🔒 ${view.settings.sandbox}`);
  return parts.join(' · ');
}

function turnTokens(view: RunView): string | undefined {
  const turn = turnUsage(view);
  if (!turn) return undefined;
  const note = turn.threadTotal ? ' (thread total)' : '';
  return `🔢 ${formatCount(turn.usage.inputTokens)} in / ${formatCount(turn.usage.outputTokens)} out${note}`;
}

/**
 * Tokens of this turn. Codex reports totals for the whole thread, so this turn is the difference
 * from the totals after the previous turn of the same thread; without them, the thread's total.
 */
export function turnUsage(
  view: RunView,
): { usage: Omit<TokenUsage, 'cumulative'>; threadTotal: boolean } | undefined {
  const usage = view.agent.usage;
  if (!usage) return undefined;
  if (!usage.cumulative) return { usage, threadTotal: false };
  const baseline = view.usageBaseline;
  const freshThread =
    !baseline?.sessionId || (view.agent.sessionId && view.agent.sessionId !== baseline.sessionId);
  if (freshThread) return { usage, threadTotal: false };
  if (!baseline?.usage) return { usage, threadTotal: true };
  const before = baseline.usage;
  return {
    usage: {
      inputTokens: Math.max(0, usage.inputTokens - before.inputTokens),
      cachedInputTokens: Math.max(0, usage.cachedInputTokens - before.cachedInputTokens),
      outputTokens: Math.max(0, usage.outputTokens - before.outputTokens),
      reasoningTokens: Math.max(0, usage.reasoningTokens - before.reasoningTokens),
    },
    threadTotal: false,
  };
}

function formatCount(n: number): string {
  return n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : String(n);
}

export function formatElapsed(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${seconds % 60}s`;
  return `${Math.floor(minutes / 60)}h ${minutes % 60}m`;
}
