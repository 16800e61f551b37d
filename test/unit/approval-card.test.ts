import { describe, expect, it } from 'vitest';
import type { ApprovalRequest } from '../../src/agents/types.js';
import { type ApprovalCardView, approvalCard } from '../../src/cards/approval-card.js';
import { cardElementCount, cardTableCount, utf8Bytes } from '../../src/cards/card-budget.js';
import { CARD_BUDGET, type CardJson } from '../../src/cards/run-card.js';

const NOW = 1_700_000_000_000;
const HOSTILE = '</font><at id=all></at> **bold** [link](https://x.example) | --- |\n# heading\n```\nclosed?';
const APPROVE = { a: 'approve', sig: 'signed-1' };
const DENY = { a: 'deny', sig: 'signed-2' };
const ALWAYS = { a: 'always', sig: 'signed-3' };

const commandRequest = (over: Partial<ApprovalRequest> = {}): ApprovalRequest => ({
  id: 'ap_1',
  kind: 'command',
  command: "/bin/bash -lc 'npm test'",
  argv: ['npm', 'test'],
  cwd: '/home/ana/project',
  reason: 'Run the test suite to check the fix',
  network: false,
  outsideSandbox: false,
  ...over,
});

const view = (over: Partial<ApprovalCardView> = {}): ApprovalCardView => ({
  request: commandRequest(),
  risk: 'write',
  hints: ['writes inside the workspace'],
  requesterName: 'Ana',
  approversText: 'you or an admin',
  sandbox: 'workspace-write',
  networkAccess: false,
  expiresAt: NOW + 4 * 60_000,
  now: NOW,
  status: 'pending',
  buttons: { approve: APPROVE, deny: DENY },
  ...over,
});

function elements(card: CardJson): CardJson[] {
  return ((card.body as { elements: CardJson[] }).elements ?? []) as CardJson[];
}

/** Every component below the body, nested ones (column sets) included. */
function components(card: CardJson): CardJson[] {
  const found: CardJson[] = [];
  const walk = (node: CardJson) => {
    found.push(node);
    for (const column of (node.columns as CardJson[] | undefined) ?? [])
      for (const child of (column.elements as CardJson[]) ?? []) walk(child);
    for (const child of (node.elements as CardJson[] | undefined) ?? []) walk(child);
  };
  for (const element of elements(card)) walk(element);
  return found;
}

const markdownText = (card: CardJson) =>
  components(card)
    .filter((c) => c.tag === 'markdown')
    .map((c) => c.content as string)
    .join('\n');

const buttons = (card: CardJson) =>
  components(card)
    .filter((c) => c.tag === 'button')
    .map((b) => ({
      text: (b.text as { content: string }).content,
      type: b.type,
      value: (b.behaviors as { type: string; value: unknown }[])[0]?.value,
    }));

const header = (card: CardJson) =>
  card.header as { title: { tag: string; content: string }; template: string };

function expectWithinBudget(card: CardJson): void {
  expect(utf8Bytes(JSON.stringify(card))).toBeLessThanOrEqual(CARD_BUDGET.maxBytes);
  expect(cardElementCount(card)).toBeLessThanOrEqual(CARD_BUDGET.maxElements);
  expect(cardTableCount(card)).toBeLessThanOrEqual(CARD_BUDGET.maxTables);
}

describe('approvalCard: pending', () => {
  it('shows the command in a code block, where it runs, the sandbox and the reason', () => {
    const card = approvalCard(view());
    expect(card.schema).toBe('2.0');
    expect(card.config).toEqual({
      update_multi: true,
      summary: { content: '🔐 Approval needed: run a command' },
    });
    expect(header(card)).toEqual({
      title: { tag: 'plain_text', content: '🔐 Approval needed: run a command' },
      template: 'orange',
    });
    const text = markdownText(card);
    expect(text).toContain('```\nnpm test\n```');
    expect(text).toContain('📁 /home/ana/project');
    expect(text).toContain('🔒 Sandbox: workspace-write · network off');
    expect(text).toContain('💬 Run the test suite to check the fix');
    expect(text).toContain('✏️ Writes: writes inside the workspace');
    expect(text).toContain('Asked by Ana · approval by you or an admin · expires in 4 min');
  });

  it('marks a dangerous request red with its hints', () => {
    const card = approvalCard(
      view({
        risk: 'dangerous',
        hints: ['runs outside the sandbox', 'asks for network access'],
        request: commandRequest({ outsideSandbox: true, network: true }),
        sandbox: 'danger-full-access',
        networkAccess: true,
      }),
    );
    expect(header(card).template).toBe('red');
    const text = markdownText(card);
    expect(text).toContain('⚠️ Dangerous: runs outside the sandbox; asks for network access');
    expect(text).toContain('🔒 Sandbox: danger-full-access · network on');
  });

  it('counts down in seconds under a minute', () => {
    expect(markdownText(approvalCard(view({ expiresAt: NOW + 45_000 })))).toContain('expires in 45 s');
    expect(markdownText(approvalCard(view({ expiresAt: NOW + 5 * 60_000 })))).toContain('expires in 5 min');
  });

  it('has buttons for exactly the callback values given, carrying them unchanged', () => {
    expect(buttons(approvalCard(view()))).toEqual([
      { text: 'Approve', type: 'primary', value: APPROVE },
      { text: 'Deny', type: 'danger', value: DENY },
    ]);
    const withAlways = approvalCard(
      view({ buttons: { approve: APPROVE, deny: DENY, always: ALWAYS }, alwaysPrefix: ['npm', 'test'] }),
    );
    expect(buttons(withAlways)).toEqual([
      { text: 'Approve', type: 'primary', value: APPROVE },
      { text: 'Deny', type: 'danger', value: DENY },
      { text: 'Always allow `npm test` here', type: 'default', value: ALWAYS },
    ]);
    expect(buttons(approvalCard(view({ buttons: { deny: DENY } })))).toEqual([
      { text: 'Deny', type: 'danger', value: DENY },
    ]);
    expect(buttons(approvalCard(view({ buttons: undefined })))).toEqual([]);
  });

  it('lists changed files with what happens to each', () => {
    const card = approvalCard(
      view({
        request: {
          ...commandRequest({ kind: 'file_change', command: undefined, argv: undefined }),
          changes: [
            { path: 'src/a.ts', change: 'update' },
            { path: 'src/new_file.ts', change: 'add' },
            { path: 'old.txt', change: 'delete' },
          ],
        },
      }),
    );
    expect(header(card).title.content).toBe('🔐 Approval needed: change files');
    const text = markdownText(card);
    expect(text).toContain('update · src/a.ts');
    expect(text).toContain('add · src/new&#95;file.ts');
    expect(text).toContain('delete · old.txt');
  });

  it('shows at most 20 files, then how many more', () => {
    const changes = Array.from({ length: 500 }, (_, i) => ({
      path: `src/file${i}.ts`,
      change: 'update' as const,
    }));
    const card = approvalCard(
      view({ request: { ...commandRequest({ kind: 'file_change', command: undefined }), changes } }),
    );
    const text = markdownText(card);
    expect(text).toContain('src/file19.ts');
    expect(text).not.toContain('src/file20.ts');
    expect(text).toContain('+480 more');
    expectWithinBudget(card);
  });

  it('names the permissions asked for', () => {
    const card = approvalCard(
      view({
        request: commandRequest({
          kind: 'permissions',
          command: undefined,
          network: true,
          outsideSandbox: true,
        }),
      }),
    );
    expect(header(card).title.content).toBe('🔐 Approval needed: extra permissions');
    expect(markdownText(card)).toContain('**Asks for:** network access, running outside the sandbox');
  });
});

describe('approvalCard: final states have no buttons', () => {
  const given = { buttons: { approve: APPROVE, deny: DENY, always: ALWAYS } };

  it('approved: green, by whom, with the note', () => {
    const card = approvalCard(
      view({
        ...given,
        status: 'approved',
        decidedBy: 'Bo',
        note: 'Always allowed `npm test` in this workspace',
      }),
    );
    expect(header(card)).toEqual({ title: { tag: 'plain_text', content: '✅ Approved' }, template: 'green' });
    const text = markdownText(card);
    expect(text).toContain('**Approved** by Bo.');
    expect(text).toContain('Always allowed `npm test` in this workspace');
    expect(text).toContain('```\nnpm test\n```');
    expect(text).not.toContain('expires');
    expect(buttons(card)).toEqual([]);
  });

  it('denied: red, by whom', () => {
    const card = approvalCard(view({ ...given, status: 'denied', decidedBy: 'Bo' }));
    expect(header(card)).toMatchObject({ title: { content: '⛔ Denied' }, template: 'red' });
    expect(markdownText(card)).toContain('**Denied** by Bo.');
    expect(buttons(card)).toEqual([]);
  });

  it('expired: grey, denied', () => {
    const card = approvalCard(view({ ...given, status: 'expired', expiresAt: NOW - 1 }));
    expect(header(card)).toMatchObject({ title: { content: '⌛ Expired — denied' }, template: 'grey' });
    expect(markdownText(card)).toContain('Nobody decided in time, so it was denied.');
    expect(buttons(card)).toEqual([]);
  });

  it('cancelled: grey, with why', () => {
    const card = approvalCard(view({ ...given, status: 'cancelled', note: 'the run was stopped' }));
    expect(header(card)).toMatchObject({ title: { content: '⏹ Cancelled' }, template: 'grey' });
    expect(markdownText(card)).toContain('the run was stopped');
    expect(buttons(card)).toEqual([]);
  });
});

describe('approvalCard: text from outside cannot break the card', () => {
  const hostileCard = () =>
    approvalCard(
      view({
        request: commandRequest({
          command: `echo hi\n${HOSTILE}\n\`\`\`\nrm -rf ~`,
          reason: HOSTILE,
          cwd: HOSTILE,
        }),
        requesterName: HOSTILE,
        approversText: HOSTILE,
        hints: [HOSTILE],
        alwaysPrefix: [HOSTILE],
        buttons: { approve: APPROVE, deny: DENY, always: ALWAYS },
      }),
    );

  it('mentions nobody, adds no font, link, table or heading', () => {
    // Inside the code block markdown is not read; the next test checks that block.
    const text = markdownText(hostileCard()).replace(/^```\n[\s\S]*?\n```$/gm, '');
    expect(text).toContain('&#60;/font&#62;&#60;at id=all&#62;&#60;/at&#62; &#42;&#42;bold&#42;&#42;');
    expect(text).not.toMatch(/<at\b/i);
    expect(text).not.toContain('</font>');
    expect(text).not.toContain('](https://');
    expect(text).not.toMatch(/^\s*#/m);
    expect(text).not.toContain('**bold**');
    expect(cardTableCount(hostileCard())).toBe(0);
  });

  it('keeps the whole command inside one code block', () => {
    const code = components(hostileCard()).find(
      (c) => c.tag === 'markdown' && (c.content as string).startsWith('```'),
    );
    const content = String(code?.content);
    const lines = content.split('\n');
    expect(lines.filter((line) => /^ {0,3}```/.test(line))).toEqual(['```', '```']);
    expect(lines[0]).toBe('```');
    expect(lines.at(-1)).toBe('```');
    expect(content).toContain('rm -rf ~');
    // A zero-width space after `<` keeps Feishu from reading a tag even inside code.
    expect(content).toContain('<\u200b/font><\u200bat id=all><\u200b/at>');
    expect(content).toContain('echo hi');
  });

  it('names invisible characters instead of letting them disguise a command', () => {
    const card = approvalCard(view({ request: commandRequest({ command: 'echo safe\u202e; rm -rf /' }) }));
    expect(markdownText(card)).toContain('echo safe⟨U+202E⟩; rm -rf /');
  });

  it('keeps labels plain text', () => {
    for (const b of components(hostileCard()).filter((c) => c.tag === 'button'))
      expect((b.text as { tag: string }).tag).toBe('plain_text');
    expect(header(hostileCard()).title.tag).toBe('plain_text');
  });
});

describe('approvalCard: within the card budget', () => {
  it('shows both ends of a 100 KB command and says the middle is hidden', () => {
    const command = `START ${'x'.repeat(100 * 1024)} END`;
    const card = approvalCard(view({ request: commandRequest({ command }) }));
    const text = markdownText(card);
    expect(text).toContain('START xxx');
    expect(text).toContain('xxx END');
    expect(text).toMatch(/characters not shown/);
    expect(text).toContain('Approving runs all of it.');
    expect(text.length).toBeLessThan(5_000);
    expectWithinBudget(card);
  });

  it('stays within budget whatever the text and however many files', () => {
    const huge = (c: string) => c.repeat(100 * 1024);
    const escapes = '_*<>|[]\\`~&';
    const changes = Array.from({ length: 500 }, (_, i) => ({
      path: `${i}/${huge(escapes[i % escapes.length] as string).slice(0, 10_000)}`,
      change: 'add' as const,
    }));
    const bigValue = { sig: 's'.repeat(600) };
    for (const request of [
      commandRequest({ command: huge('\u0001'), reason: huge('_'), cwd: huge('<') }),
      commandRequest({ command: huge('漢'), reason: huge('漢'), cwd: huge('漢') }),
      {
        ...commandRequest({ kind: 'file_change', command: undefined, reason: huge('|'), cwd: huge('*') }),
        changes,
      },
    ]) {
      const card = approvalCard(
        view({
          request,
          requesterName: huge('_'),
          approversText: huge('<'),
          hints: Array.from({ length: 50 }, () => huge('*')),
          note: huge('`'),
          alwaysPrefix: [huge('x')],
          buttons: { approve: bigValue, deny: bigValue, always: bigValue },
        }),
      );
      expectWithinBudget(card);
      expect(buttons(card)).toHaveLength(3);
      for (const status of ['approved', 'denied', 'expired', 'cancelled'] as const)
        expectWithinBudget(approvalCard(view({ request, status, decidedBy: huge('_'), note: huge('_') })));
    }
  });
});
