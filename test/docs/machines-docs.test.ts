import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { assign, fromCallback, setup } from 'xstate';
import { DOCS_DIR, findStaleDocs, MACHINES, renderMachineDocs, toMermaid } from '../../scripts/machines.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A throwaway machine with every feature the diagram must show. */
function tinyMachine() {
  return setup({
    types: {
      context: {} as { count: number },
      events: {} as { type: 'GO' } | { type: 'STOP' } | { type: 'PING' },
    },
    actors: { worker: fromCallback(() => () => {}) },
    guards: { canGo: () => true },
    delays: { patience: 1000 },
    actions: { bump: assign({ count: ({ context }) => context.count + 1 }), log: () => {} },
  }).createMachine({
    id: 'tiny',
    context: { count: 0 },
    initial: 'idle',
    states: {
      idle: {
        description: 'Waiting: for {things} to "happen"',
        on: { GO: { guard: 'canGo', target: 'busy', actions: ['bump', 'log'] } },
      },
      busy: {
        invoke: { src: 'worker', id: 'worker' },
        initial: 'warming',
        states: {
          warming: { after: { patience: 'hot' } },
          hot: { on: { PING: { target: 'hot', reenter: true, actions: 'log' } } },
        },
        on: { STOP: 'done' },
      },
      both: {
        type: 'parallel',
        states: { left: {}, right: { initial: 'one', states: { one: {}, idle: {} } } },
      },
      done: { type: 'final' },
    },
  });
}

describe('docs/machines', () => {
  it('is up to date with the machine definitions', () => {
    const stale = findStaleDocs(join(REPO_ROOT, DOCS_DIR), renderMachineDocs(MACHINES));
    if (stale.length > 0) {
      expect.fail(
        `${DOCS_DIR} is stale: run npm run machines\n${stale.map((f) => `  ${DOCS_DIR}/${f}`).join('\n')}`,
      );
    }
  });

  it('has a README embedding every machine', () => {
    const readme = renderMachineDocs(MACHINES).get('README.md')!;
    for (const { name } of MACHINES) expect(readme).toContain(`## ${name}`);
    expect(readme.match(/```mermaid/g)).toHaveLength(MACHINES.length);
  });
});

describe('toMermaid', () => {
  const mermaid = toMermaid(tinyMachine());
  const lines = mermaid.trimEnd().split('\n');

  it('draws nested states, initial and final markers', () => {
    expect(lines[0]).toBe('stateDiagram-v2');
    expect(mermaid).toMatch(/^ {2}\[\*\] --> idle$/m);
    expect(mermaid).toMatch(/^ {2}state busy \{$/m);
    expect(mermaid).toMatch(/^ {4}\[\*\] --> warming$/m);
    expect(mermaid).toMatch(/^ {4}warming$/m);
    expect(mermaid).toMatch(/^ {2}done --> \[\*\]$/m);
    // Parallel regions are separated by `--`; a key used twice gets its path as id.
    expect(mermaid).toMatch(/^ {2}state both \{\n {4}left\n {4}--\n {4}state right \{/m);
    expect(mermaid).toContain('right_idle');
    expect(mermaid).toMatch(/^ {2}idle$/m);
  });

  it('labels a guarded edge with its actions', () => {
    expect(mermaid).toContain('idle --> busy : GO [canGo] / bump, log');
  });

  it('labels an after edge with the delay name, inside the parent block', () => {
    expect(mermaid).toMatch(/^ {4}warming --> hot : after patience$/m);
  });

  it('marks reentering self-transitions', () => {
    expect(mermaid).toMatch(/^ {4}hot --> hot : PING \/ log \(reenter\)$/m);
  });

  it('shows invokes and descriptions as notes, escaped', () => {
    expect(mermaid).toContain('note right of busy : invoke worker');
    expect(mermaid).toContain('note right of idle : Waiting#58; for #123;things#125; to #quot;happen#quot;');
  });

  it('keeps to the plain stateDiagram-v2 subset', () => {
    // Label text: anything but Mermaid syntax characters, which appear only as `#code;` entities.
    const text = String.raw`(?:[^:;{}"%<>#\r\n]|#\w+;)+`;
    const allowed = [
      /^stateDiagram-v2$/,
      /^\s*\[\*\] --> \w+$/,
      /^\s*\w+ --> \[\*\]$/,
      /^\s*state \w+ \{$/,
      /^\s*\}$/,
      /^\s*--$/,
      /^\s*\w+$/,
      new RegExp(String.raw`^\s*\w+ --> \w+( : ${text})?$`),
      new RegExp(String.raw`^\s*note right of \w+ : ${text}$`),
    ];
    for (const line of lines) {
      expect(
        allowed.some((re) => re.test(line)),
        `unexpected line: ${line}`,
      ).toBe(true);
    }
    // Braces balance.
    expect(lines.filter((l) => l.endsWith('{')).length).toBe(lines.filter((l) => l.trim() === '}').length);
  });

  it('never puts a raw newline into a label or note', () => {
    const machine = setup({}).createMachine({
      id: 'nl',
      initial: 'a',
      states: {
        a: { description: 'two\nlines\r\nhere', on: { 'x:y': 'defaultMode' } },
        defaultMode: { description: 'set direction LR; then 100%' },
      },
    });
    const out = toMermaid(machine);
    // Lexer traps: a leading `default` in an id, `direction LR` in text, `;` ending a label.
    expect(out).toContain('a --> s_defaultMode : x#58;y');
    expect(out).toContain('note right of s_defaultMode : set direction#32;LR#59; then 100#37;');
    expect(out).toContain('note right of a : two lines here');
    for (const line of out.trimEnd().split('\n')) expect(line).not.toMatch(/\r/);
  });

  it('is deterministic', () => {
    const first = renderMachineDocs([{ name: 'tiny', machine: tinyMachine() }]);
    const second = renderMachineDocs([{ name: 'tiny', machine: tinyMachine() }]);
    expect([...first.keys()]).toEqual(['tiny.mmd', 'tiny.json', 'README.md']);
    expect([...second]).toEqual([...first]);
    // JSON keys are sorted at every level.
    const json = JSON.parse(first.get('tiny.json')!) as Record<string, unknown>;
    expect(Object.keys(json)).toEqual([...Object.keys(json)].sort());
  });
});
