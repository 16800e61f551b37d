import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RenderUpdate } from '../../machines/scope.machine.js';
import type { AgentEvent } from '../../src/agents/types.js';
import { cardElementCount, cardTableCount, utf8Bytes } from '../../src/cards/card-budget.js';
import {
  type CardBudget,
  type CardJson,
  FIRST_PAGE,
  type PageCursor,
  paginateRun,
} from '../../src/cards/run-card.js';
import { initialRunView, reduceRunView } from '../../src/cards/run-view.js';
import { TEST_SCOPE_SETTINGS } from '../support/scope-fixtures.js';

const BUDGET: CardBudget = { maxBytes: 5000, maxElements: 24, maxTables: 3 };

type Step =
  | { kind: 'text'; item: number; words: number; table: boolean; fence: boolean }
  | { kind: 'toolStart'; id: number }
  | { kind: 'toolEnd'; id: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('text' as const),
    item: fc.integer({ min: 0, max: 4 }),
    words: fc.integer({ min: 1, max: 120 }),
    table: fc.boolean(),
    fence: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('toolStart' as const), id: fc.integer({ min: 0, max: 40 }) }),
  fc.record({ kind: fc.constant('toolEnd' as const), id: fc.integer({ min: 0, max: 40 }) }),
);

/**
 * The sink's use of the layout, replayed: after every agent event the run is laid out from
 * the current cursor; pages that filled up are written once, sealed, and never again.
 * Whatever the order of events — text growing in earlier items, tools finishing late —
 * every word and every tool must end up on some card, and every card within the budget.
 */
describe('run card pages (property)', () => {
  it('never lose content, never exceed a budget, whatever order the agent works in', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 120 }), (steps) => {
        let view = reduceRunView(initialRunView('run'), {
          type: 'render.open',
          scopeId: 'chat:c',
          inputs: [],
          settings: TEST_SCOPE_SETTINGS,
        });
        view = reduceRunView(view, { type: 'render.started', at: 0 });
        const written: CardJson[] = [];
        let cursor: PageCursor = FIRST_PAGE;
        let page = 1;
        const lay = () => {
          const paged = paginateRun(view, cursor, page, {
            agent: 'a',
            now: 0,
            showReasoning: true,
            budget: BUDGET,
          });
          for (const sealed of paged.sealed) {
            written.push(sealed.card);
            cursor = sealed.end;
            page++;
          }
          return paged.last;
        };
        const words: string[] = [];
        const tools = new Set<number>();
        let counter = 0;
        for (const s of steps) {
          let event: AgentEvent;
          if (s.kind === 'text') {
            const parts = Array.from({ length: s.words }, () => `w${counter++}`);
            words.push(...parts);
            let text = `${parts.join(' ')}\n\n`;
            if (s.table) text += '| a | b |\n| --- | --- |\n| 1 | 2 |\n\n';
            if (s.fence) text = `\`\`\`\n${text}\`\`\`\n\n`;
            event = { type: 'text', itemId: `m${s.item}`, text, mode: 'delta' };
          } else {
            tools.add(s.id);
            event = {
              type: 'tool',
              tool: {
                kind: 'command',
                id: `c${s.id}`,
                status: s.kind === 'toolStart' ? 'started' : 'completed',
                command: `tool-${s.id}`,
                output: s.kind === 'toolEnd' ? `out ${s.id}` : '',
              },
            };
          }
          view = reduceRunView(view, { type: 'render.agent', event, at: 0 } as RenderUpdate);
          lay();
        }
        view = reduceRunView(view, { type: 'render.finish', outcome: 'completed', at: 1 });
        written.push(lay().card);

        for (const card of written) {
          expect(utf8Bytes(JSON.stringify(card))).toBeLessThanOrEqual(BUDGET.maxBytes);
          expect(cardElementCount(card)).toBeLessThanOrEqual(BUDGET.maxElements);
          expect(cardTableCount(card)).toBeLessThanOrEqual(BUDGET.maxTables);
        }
        const texts: string[] = [];
        JSON.stringify(written, (_key, value: unknown) => {
          if (typeof value === 'string') texts.push(value);
          return value;
        });
        const shown = texts.join('\n');
        const seen = new Set(shown.match(/\bw\d+\b/g) ?? []);
        for (const word of words) expect(seen.has(word), `word ${word}`).toBe(true);
        for (const id of tools) expect(shown).toContain(`tool-${id}`);
        // The final card shows how the run ended.
        expect(JSON.stringify(written.at(-1))).toContain('✅ Done');
      }),
      { numRuns: 150 },
    );
  });
});
