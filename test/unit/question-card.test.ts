import { describe, expect, it } from 'vitest';
import type { QuestionRequest } from '../../src/agents/types.js';
import { cardElementCount, cardTableCount, utf8Bytes } from '../../src/cards/card-budget.js';
import { type QuestionCardView, questionCard } from '../../src/cards/question-card.js';
import { CARD_BUDGET, type CardJson } from '../../src/cards/run-card.js';

const NOW = 1_700_000_000_000;
const HOSTILE = '</font><at id=all></at> **bold** [link](https://x.example) | --- |\n# heading';

const request = (over: Partial<QuestionRequest['questions'][number]> = {}): QuestionRequest => ({
  id: 'q_1',
  questions: [
    {
      id: 'db',
      header: 'Database',
      question: 'Which database should the service use?',
      options: [
        { label: 'Postgres', description: 'the usual choice' },
        { label: 'SQLite', description: 'one file, no server' },
        { label: 'A database with a name far longer than forty characters' },
      ],
      allowOther: false,
      ...over,
    },
  ],
});

const VALUES = [{ pick: 0 }, { pick: 1 }, { pick: 2 }];

const view = (over: Partial<QuestionCardView> = {}): QuestionCardView => ({
  question: request(),
  askedOf: 'Ana or an admin',
  expiresAt: NOW + 5 * 60_000,
  now: NOW,
  status: 'pending',
  optionValues: { db: VALUES },
  ...over,
});

const elements = (card: CardJson) => (card.body as { elements: CardJson[] }).elements;
const markdownText = (card: CardJson) =>
  elements(card)
    .filter((c) => c.tag === 'markdown')
    .map((c) => c.content as string)
    .join('\n');
const buttons = (card: CardJson) =>
  elements(card)
    .filter((c) => c.tag === 'button')
    .map((b) => ({
      text: (b.text as { tag: string; content: string }).content,
      value: (b.behaviors as { type: string; value: unknown }[])[0]?.value,
    }));
const header = (card: CardJson) => card.header as { title: { content: string }; template: string };

function expectWithinBudget(card: CardJson): void {
  expect(utf8Bytes(JSON.stringify(card))).toBeLessThanOrEqual(CARD_BUDGET.maxBytes);
  expect(cardElementCount(card)).toBeLessThanOrEqual(CARD_BUDGET.maxElements);
  expect(cardTableCount(card)).toBeLessThanOrEqual(CARD_BUDGET.maxTables);
}

describe('questionCard: pending', () => {
  it('shows the question, its options numbered with descriptions, and a hint', () => {
    const card = questionCard(view());
    expect(card.schema).toBe('2.0');
    expect(card.config).toEqual({ update_multi: true, summary: { content: '❓ Database' } });
    expect(header(card)).toEqual({ title: { tag: 'plain_text', content: '❓ Database' }, template: 'blue' });
    const text = markdownText(card);
    expect(text).toContain('Which database should the service use?');
    expect(text).toContain("1. Postgres <font color='grey'>— the usual choice</font>");
    expect(text).toContain("2. SQLite <font color='grey'>— one file, no server</font>");
    expect(text).toContain('3. A database with a name far longer than forty characters');
    expect(text).toContain('Tap an option, or reply with its number, its name · expires in 5 min');
    expect(text).toContain('Who may answer: Ana or an admin');
  });

  it('offers a free answer only when the question takes one', () => {
    const text = markdownText(questionCard(view({ question: request({ allowOther: true }) })));
    expect(text).toContain(
      'Tap an option, or reply with its number, its name, or your own answer · expires in 5 min',
    );
  });

  it('has a button per option carrying exactly its value, labels cut to 40 characters', () => {
    expect(buttons(questionCard(view()))).toEqual([
      { text: 'Postgres', value: VALUES[0] },
      { text: 'SQLite', value: VALUES[1] },
      { text: 'A database with a name far longer than…', value: VALUES[2] },
    ]);
  });

  it('without signed values there are no buttons, and the hint says to reply', () => {
    const card = questionCard(view({ optionValues: undefined }));
    expect(buttons(card)).toEqual([]);
    expect(markdownText(card)).toContain("Reply with an option's number, its name · expires in 5 min");
  });

  it('says "Question" when the agent gave no header, and counts several questions', () => {
    expect(header(questionCard(view({ question: request({ header: undefined }) }))).title.content).toBe(
      '❓ Question',
    );
    const two: QuestionRequest = {
      id: 'q_2',
      questions: [
        {
          id: 'a',
          header: 'Database',
          question: 'Which database?',
          options: [{ label: 'Postgres' }],
          allowOther: false,
        },
        { id: 'b', question: 'Which port?', options: [{ label: '5432' }], allowOther: true },
      ],
    };
    const card = questionCard(view({ question: two, optionValues: { a: [{ a: 0 }], b: [{ b: 0 }] } }));
    expect(header(card).title.content).toBe('❓ 2 questions');
    const text = markdownText(card);
    expect(text).toContain('**Question 1** · Database\nWhich database?');
    expect(text).toContain('**Question 2**\nWhich port?');
    expect(buttons(card)).toEqual([
      { text: 'Postgres', value: { a: 0 } },
      { text: '5432', value: { b: 0 } },
    ]);
  });

  it('counts down in seconds under a minute', () => {
    expect(markdownText(questionCard(view({ expiresAt: NOW + 30_000 })))).toContain('expires in 30 s');
  });
});

describe('questionCard: final states have no buttons', () => {
  it('answered: green, the answers and by whom', () => {
    const card = questionCard(view({ status: 'answered', answers: { db: ['SQLite'] }, answeredBy: 'Ana' }));
    expect(header(card)).toEqual({
      title: { tag: 'plain_text', content: '✅ Answered: Database' },
      template: 'green',
    });
    const text = markdownText(card);
    expect(text).toContain('Which database should the service use?\n→ SQLite');
    expect(text).toContain('Answered by Ana');
    expect(text).not.toContain('expires');
    expect(buttons(card)).toEqual([]);
  });

  it('expired: grey, and the agent was told', () => {
    const card = questionCard(view({ status: 'expired' }));
    expect(header(card)).toMatchObject({ title: { content: '⌛ Question expired' }, template: 'grey' });
    expect(markdownText(card)).toContain('the agent was told nobody answered');
    expect(buttons(card)).toEqual([]);
  });

  it('cancelled: grey', () => {
    const card = questionCard(view({ status: 'cancelled' }));
    expect(header(card).template).toBe('grey');
    expect(buttons(card)).toEqual([]);
  });
});

describe('questionCard: text from outside cannot break the card', () => {
  it('escapes the question, labels, descriptions, answers and names', () => {
    const hostile: QuestionRequest = {
      id: 'q',
      questions: [
        {
          id: 'x',
          header: HOSTILE,
          question: HOSTILE,
          options: [{ label: HOSTILE, description: HOSTILE }],
          allowOther: true,
        },
      ],
    };
    for (const card of [
      questionCard(view({ question: hostile, askedOf: HOSTILE, optionValues: { x: [{ v: 1 }] } })),
      questionCard(
        view({ question: hostile, status: 'answered', answers: { x: [HOSTILE] }, answeredBy: HOSTILE }),
      ),
    ]) {
      const text = markdownText(card);
      expect(text).toContain('&#60;/font&#62;&#60;at id=all&#62;&#60;/at&#62; &#42;&#42;bold&#42;&#42;');
      expect(text).not.toMatch(/<at\b/i);
      expect(text).not.toContain('</font><');
      expect(text).not.toContain('](https://');
      expect(text).not.toMatch(/^\s*#/m);
      expect(cardTableCount(card)).toBe(0);
    }
  });
});

describe('questionCard: within the card budget', () => {
  const huge = (c: string) => c.repeat(100 * 1024);
  const options = (n: number, text: (i: number) => string) =>
    Array.from({ length: n }, (_, i) => ({ label: text(i), description: text(i) }));
  const values = (n: number) => Array.from({ length: n }, (_, i) => ({ i, sig: 's'.repeat(400) }));

  it('keeps every button for 20 ordinary options', () => {
    const question: QuestionRequest = {
      id: 'q',
      questions: [
        {
          id: 'x',
          question: 'Pick one',
          options: options(20, (i) => `Option ${i + 1} with a sensible description`),
          allowOther: true,
        },
      ],
    };
    const card = questionCard(view({ question, optionValues: { x: values(20) } }));
    expect(buttons(card)).toHaveLength(20);
    expect(markdownText(card)).toContain('20. Option 20');
    expectWithinBudget(card);
  });

  it('stays within budget with 20 hostile 100 KB options, and with many questions', () => {
    const hostile = (i: number) => huge('_<|*'[i % 4] as string);
    const one: QuestionRequest = {
      id: 'q',
      questions: [
        { id: 'x', header: huge('h'), question: huge('?'), options: options(20, hostile), allowOther: true },
      ],
    };
    const many: QuestionRequest = {
      id: 'q',
      questions: Array.from({ length: 8 }, (_, q) => ({
        id: `q${q}`,
        question: `Question ${q}`,
        options: options(20, (i) => `Option ${i}`),
        allowOther: false,
      })),
    };
    const manyValues = Object.fromEntries(many.questions.map((q) => [q.id, values(20)]));
    for (const card of [
      questionCard(view({ question: one, askedOf: huge('<'), optionValues: { x: values(20) } })),
      questionCard(view({ question: many, optionValues: manyValues })),
      questionCard(
        view({
          question: one,
          status: 'answered',
          answers: { x: Array.from({ length: 20 }, () => huge('_')) },
          answeredBy: huge('_'),
        }),
      ),
      questionCard(view({ question: one, status: 'expired' })),
    ])
      expectWithinBudget(card);
    // Every option of every question is still listed, to answer by number.
    const text = markdownText(questionCard(view({ question: many, optionValues: manyValues })));
    expect(text.match(/^20\. Option 19 /gm)).toHaveLength(8);
  });
});
