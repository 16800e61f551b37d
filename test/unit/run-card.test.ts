import { describe, expect, it } from 'vitest';
import type { RenderUpdate, ScopeSettings } from '../../machines/scope.machine.js';
import type { AgentEvent, ToolCall } from '../../src/agents/types.js';
import { cardElementCount, cardTableCount, openFence, utf8Bytes } from '../../src/cards/card-budget.js';
import { displayCommand } from '../../src/cards/markdown.js';
import {
  CARD_BUDGET,
  FIRST_PAGE,
  type PageCursor,
  paginateRun,
  type RunCardChrome,
  type RunPage,
  renderRunCard,
} from '../../src/cards/run-card.js';
import { initialRunView, type RunView, reduceRunView } from '../../src/cards/run-view.js';
import type { MessageInput } from '../../src/core/bridge-input.js';
import { TEST_SCOPE_SETTINGS } from '../support/scope-fixtures.js';

const T0 = 1_700_000_000_000;
const SETTINGS: ScopeSettings = TEST_SCOPE_SETTINGS;
const INPUT: MessageInput = {
  kind: 'message',
  scopeId: 'chat:oc_1',
  messageId: 'om_1',
  actorId: 'ou_1',
  chat: { chatId: 'oc_1', chatType: 'p2p' },
  text: 'fix the tests',
  receivedAt: T0,
};
const STOP = { r: 'run_1', sig: 'signed' };
const chrome = (over: Partial<RunCardChrome> = {}): RunCardChrome => ({
  agent: 'codex',
  model: 'gpt-test',
  now: T0 + 65_000,
  showReasoning: true,
  stopAction: STOP,
  ...over,
});

function view(...updates: RenderUpdate[]): RunView {
  return updates.reduce(reduceRunView, initialRunView('run_1'));
}
const open: RenderUpdate = { type: 'render.open', scopeId: 'chat:oc_1', inputs: [INPUT], settings: SETTINGS };
const started: RenderUpdate = { type: 'render.started', at: T0 };
const agent = (event: AgentEvent): RenderUpdate => ({ type: 'render.agent', event, at: T0 });
const tool = (call: ToolCall) => agent({ type: 'tool', tool: call });
const finish = (
  outcome: 'completed' | 'failed' | 'interrupted' | 'timeout',
  error?: string,
): RenderUpdate => ({
  type: 'render.finish',
  outcome,
  at: T0 + 65_000,
  ...(error ? { error } : {}),
});

const command = (id: string, status: ToolCall['status'], output = '', exitCode?: number): ToolCall => ({
  kind: 'command',
  id,
  status,
  command: `/bin/bash -lc 'npm test -- ${id}'`,
  output,
  ...(exitCode !== undefined ? { exitCode } : {}),
});

const rich = [
  open,
  started,
  agent({ type: 'session', sessionId: 'thread_1' }),
  agent({ type: 'reasoning', itemId: 'rs1', text: 'Look at the failing test first.' }),
  tool(command('c1', 'completed', 'PASS 3 tests', 0)),
  tool(command('c2', 'failed', 'FAIL expected 2 got 3', 1)),
  tool({
    kind: 'file_change',
    id: 'f1',
    status: 'completed',
    changes: [{ path: 'src/sum.ts', change: 'update' }],
  }),
  tool({ kind: 'mcp', id: 'm1', status: 'completed', server: 'docs', tool: 'search' }),
  tool({ kind: 'web_search', id: 'w1', status: 'completed', query: 'vitest snapshot' }),
  tool({
    kind: 'todo',
    id: 'p1',
    status: 'updated',
    items: [
      { text: 'reproduce', done: true },
      { text: 'fix', done: false },
    ],
  }),
  agent({ type: 'text', itemId: 'msg1', text: 'Fixed the off-by-one in **sum**.', mode: 'whole' }),
  agent({
    type: 'usage',
    usage: {
      inputTokens: 1200,
      cachedInputTokens: 0,
      outputTokens: 80,
      reasoningTokens: 10,
      cumulative: true,
    },
  }),
];

describe('run card: one snapshot per status', () => {
  it('waiting for a slot', () => {
    expect(renderRunCard(view(open, { type: 'render.waiting', position: 2 }), chrome())).toMatchSnapshot();
  });
  it('thinking', () => {
    expect(
      renderRunCard(view(open, started, agent({ type: 'session', sessionId: 't' })), chrome()),
    ).toMatchSnapshot();
  });
  it('running a tool', () => {
    expect(renderRunCard(view(open, started, tool(command('c1', 'started'))), chrome())).toMatchSnapshot();
  });
  it('done, with every kind of part', () => {
    expect(renderRunCard(view(...rich, finish('completed')), chrome())).toMatchSnapshot();
  });
  it('interrupted', () => {
    expect(renderRunCard(view(open, started, finish('interrupted')), chrome())).toMatchSnapshot();
  });
  it('timed out', () => {
    expect(
      renderRunCard(view(open, started, finish('timeout', 'no agent activity for 600 s')), chrome()),
    ).toMatchSnapshot();
  });
  it('failed', () => {
    expect(
      renderRunCard(view(open, started, finish('failed', 'codex exited with code 1')), chrome()),
    ).toMatchSnapshot();
  });
});

describe('run card content', () => {
  const text = (card: unknown) => JSON.stringify(card);

  it('has a Stop button carrying the signed value while live, and none once finished', () => {
    const live = renderRunCard(view(open, started), chrome());
    expect(text(live)).toContain('"behaviors":[{"type":"callback","value":{"r":"run_1","sig":"signed"}}]');
    const final = renderRunCard(view(open, started, finish('completed')), chrome());
    expect(text(final)).not.toContain('"behaviors"');
    expect(text(renderRunCard(view(open, started), chrome({ stopAction: undefined })))).not.toContain(
      '"behaviors"',
    );
  });

  it('shows the reasoning panel only when the profile asks for it', () => {
    const withReasoning = text(renderRunCard(view(...rich), chrome()));
    expect(withReasoning).toContain('💭 Reasoning');
    expect(withReasoning).toContain('Look at the failing test first.');
    const without = text(renderRunCard(view(...rich), chrome({ showReasoning: false })));
    expect(without).not.toContain('Reasoning');
  });

  it('shows each tool with its status, exit code, output and paths', () => {
    const card = text(renderRunCard(view(...rich, finish('completed')), chrome()));
    expect(card).toContain('✅ `npm test -- c1` · exit 0');
    expect(card).toContain('❌ `npm test -- c2` · exit 1');
    expect(card).toContain('FAIL expected 2 got 3');
    expect(card).toContain('± `src/sum.ts`');
    expect(card).toContain('MCP `docs.search`');
    expect(card).toContain('Web search `vitest snapshot`');
    expect(card).toContain('Plan 1/2');
  });

  it("shows this turn's tokens: the thread's totals minus those before the turn", () => {
    const baseline: RenderUpdate = {
      ...open,
      type: 'render.open',
      usageBaseline: {
        sessionId: 'thread_1',
        usage: {
          inputTokens: 1000,
          cachedInputTokens: 0,
          outputTokens: 50,
          reasoningTokens: 0,
          cumulative: true,
        },
      },
    } as RenderUpdate;
    const resumed = text(renderRunCard(view(baseline, ...rich.slice(1), finish('completed')), chrome()));
    expect(resumed).toContain('🔢 200 in / 30 out');
    const fresh = text(renderRunCard(view(...rich, finish('completed')), chrome()));
    expect(fresh).toContain('🔢 1200 in / 80 out');
    expect(fresh).toContain('⏱ 1m 5s');
    expect(fresh).toContain('🤖 codex · gpt-test');
    expect(fresh).toContain('📁 /work/project');
    expect(fresh).toContain('🔒 workspace-write');
  });

  it('unwraps the shell codex wraps commands in', () => {
    expect(displayCommand("/bin/bash -lc 'echo '\\''quoted'\\'''")).toBe("echo 'quoted'");
    expect(displayCommand('/bin/bash -lc "ls -la"')).toBe('ls -la');
    expect(displayCommand(`/bin/bash -lc "echo 'boom' >&2; printf \\"a\\\\nb\\""`)).toBe(
      `echo 'boom' >&2; printf "a\\nb"`,
    );
    expect(displayCommand('git status')).toBe('git status');
  });
});

/** Lay a run out the way the sink does: sealed pages accumulate, the cursor moves on. */
function layOut(run: RunView, options: Partial<RunCardChrome> = {}): RunPage[] {
  const pages: RunPage[] = [];
  let cursor: PageCursor = FIRST_PAGE;
  let number = 1;
  const paged = paginateRun(run, cursor, number, chrome(options));
  for (const page of paged.sealed) {
    pages.push(page);
    cursor = page.end;
    number++;
  }
  pages.push(paged.last);
  return pages;
}

function markdownOf(page: RunPage): string {
  const parts: string[] = [];
  JSON.stringify(page.card, (key, value) => {
    if (key === 'content' && typeof value === 'string') parts.push(value);
    return value;
  });
  return parts.join('\n');
}

function expectWithinBudget(pages: RunPage[]) {
  for (const [i, page] of pages.entries()) {
    expect(utf8Bytes(JSON.stringify(page.card)), `page ${i + 1} bytes`).toBeLessThanOrEqual(
      CARD_BUDGET.maxBytes,
    );
    expect(cardElementCount(page.card), `page ${i + 1} elements`).toBeLessThanOrEqual(
      CARD_BUDGET.maxElements,
    );
    expect(cardTableCount(page.card), `page ${i + 1} tables`).toBeLessThanOrEqual(CARD_BUDGET.maxTables);
  }
}

describe('run card pages: within every limit, nothing lost', () => {
  it('rolls 300 tool calls and 100 KB of text over into continuation cards', () => {
    const updates: RenderUpdate[] = [open, started];
    for (let i = 0; i < 300; i++) {
      updates.push(tool(command(`c${i}`, 'completed', `output line of command ${i}\n`.repeat(20), 0)));
      if (i % 30 === 29) {
        updates.push(
          agent({
            type: 'text',
            itemId: `m${i}`,
            text: `Progress note ${i}: ${'lorem ipsum '.repeat(800)}`,
            mode: 'whole',
          }),
        );
      }
    }
    const pages = layOut(view(...updates, finish('completed')));
    expect(pages.length).toBeGreaterThan(5);
    expectWithinBudget(pages);
    const all = pages.map(markdownOf).join('\n');
    for (let i = 0; i < 300; i++) expect(all).toContain(`npm test -- c${i}\``);
    for (const page of pages.slice(0, -1)) expect(markdownOf(page)).toContain('continued ↓');
    expect(JSON.stringify(pages.at(-1)!.card)).toContain('✅ Done · part');
  });

  it('splits long text at paragraph breaks and keeps fenced code intact on both sides', () => {
    const code = Array.from({ length: 2000 }, (_, i) => `const line${i} = ${i}; // 中文注释`).join('\n');
    const long = `Intro paragraph.\n\n\`\`\`ts\n${code}\n\`\`\`\n\nClosing paragraph ${'end '.repeat(3000)}`;
    const pages = layOut(
      view(
        open,
        started,
        agent({ type: 'text', itemId: 'm', text: long, mode: 'whole' }),
        finish('completed'),
      ),
    );
    expect(pages.length).toBeGreaterThan(2);
    expectWithinBudget(pages);
    for (const page of pages) {
      const answer = (
        page.card.body as { elements: { element_id?: string; content?: string }[] }
      ).elements.find((e) => e.element_id === 't0');
      expect(answer?.content, 'each page carries part of the answer').toBeTruthy();
      expect(openFence(answer!.content!), 'no fence left open').toBeUndefined();
    }
    // Reassembled (dropping the fences added at the cuts), the text is all there, in order.
    const joined = pages
      .map(
        (p) =>
          (p.card.body as { elements: { element_id?: string; content?: string }[] }).elements.find(
            (e) => e.element_id === 't0',
          )!.content!,
      )
      .join('\n');
    for (const needle of [
      'Intro paragraph.',
      'const line0 = 0;',
      'const line1999 = 1999;',
      'Closing paragraph',
    ]) {
      expect(joined).toContain(needle);
    }
    expect(joined.split('const line1234 = 1234;').length - 1).toBe(1);
  });

  it('keeps at most three tables on a card', () => {
    const table = '| a | b |\n| --- | --- |\n| 1 | 2 |\n';
    const answer = Array.from({ length: 10 }, (_, i) => `Table ${i}\n\n${table}`).join('\n');
    const pages = layOut(
      view(
        open,
        started,
        agent({ type: 'text', itemId: 'm', text: answer, mode: 'whole' }),
        finish('completed'),
      ),
    );
    expect(pages.length).toBeGreaterThanOrEqual(4);
    expectWithinBudget(pages);
    expect(
      pages
        .map(markdownOf)
        .join('\n')
        .match(/\| --- \| --- \|/g),
    ).toHaveLength(10);
  });

  it('streams the answer being written on the live page, and sealed pages never change as the run goes on', () => {
    const grow = (n: number) =>
      view(open, started, agent({ type: 'text', itemId: 'm', text: 'word '.repeat(n), mode: 'whole' }));
    const small = paginateRun(grow(10), FIRST_PAGE, 1, chrome());
    expect(small.sealed).toHaveLength(0);
    expect(small.last.stream).toEqual({ elementId: 't0', text: 'word '.repeat(10) });
    const big = layOut(grow(12_000));
    const bigger = layOut(grow(14_000));
    expect(bigger[0]!.card).toEqual(big[0]!.card);
    expect(bigger.at(-1)!.stream?.elementId).toBe('t0');
  });
});
