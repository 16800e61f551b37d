import { describe, expect, it } from 'vitest';
import type { QuestionRequest } from '../../src/agents/types.js';
import { matchAnswer } from '../../src/cards/answer-match.js';

type Question = QuestionRequest['questions'][number];

const database = (allowOther = false): Question => ({
  id: 'db',
  header: 'Database',
  question: 'Which database should the service use?',
  options: [
    { label: 'Postgres', description: 'the usual choice' },
    { label: 'SQLite' },
    { label: 'Postgres with PostGIS' },
  ],
  allowOther,
});

describe('matchAnswer', () => {
  it('picks an option by its number', () => {
    expect(matchAnswer(database(), '2')).toEqual({ ok: true, answer: 'SQLite' });
    expect(matchAnswer(database(), '  3 ')).toEqual({ ok: true, answer: 'Postgres with PostGIS' });
    expect(matchAnswer(database(), '#1')).toEqual({ ok: true, answer: 'Postgres' });
    expect(matchAnswer(database(), '1.')).toEqual({ ok: true, answer: 'Postgres' });
  });

  it('picks an option by its label, in any case, before a longer label it is a prefix of', () => {
    expect(matchAnswer(database(), 'sqlite')).toEqual({ ok: true, answer: 'SQLite' });
    expect(matchAnswer(database(), 'POSTGRES')).toEqual({ ok: true, answer: 'Postgres' });
    expect(matchAnswer(database(), 'postgres  with postgis')).toEqual({
      ok: true,
      answer: 'Postgres with PostGIS',
    });
  });

  it('picks the one label a prefix matches', () => {
    expect(matchAnswer(database(), 'sq')).toEqual({ ok: true, answer: 'SQLite' });
    expect(matchAnswer(database(), 'Postgres w')).toEqual({ ok: true, answer: 'Postgres with PostGIS' });
  });

  it('does not guess from one letter', () => {
    const result = matchAnswer(database(), 's');
    expect(result.ok).toBe(false);
  });

  it('says which options an ambiguous prefix matches', () => {
    const result = matchAnswer(database(), 'post');
    expect(result).toEqual({
      ok: false,
      reason: expect.stringContaining('1 Postgres, 3 Postgres with PostGIS'),
    });
    if (!result.ok) expect(result.reason).not.toContain('SQLite');
  });

  it('refuses anything else with the options listed by number', () => {
    const result = matchAnswer(database(), 'MySQL');
    expect(result).toEqual({
      ok: false,
      reason:
        "That is not one of the options. Reply with 1–3 or an option's name: 1 Postgres, 2 SQLite, 3 Postgres with PostGIS",
    });
  });

  it('refuses a number that is not an option', () => {
    const result = matchAnswer(database(), '7');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(/^There is no option 7\. Reply with 1–3/);
  });

  it('refuses an empty reply', () => {
    expect(matchAnswer(database(true), '   ').ok).toBe(false);
  });

  it('takes the text itself when the question welcomes other answers', () => {
    expect(matchAnswer(database(true), '  MySQL 8, please ')).toEqual({
      ok: true,
      answer: 'MySQL 8, please',
    });
    expect(matchAnswer(database(true), '2')).toEqual({ ok: true, answer: 'SQLite' });
    // A number past the options is an answer in its own right.
    expect(matchAnswer(database(true), '16')).toEqual({ ok: true, answer: '16' });
  });

  it('refuses a free answer over 2,000 characters', () => {
    expect(matchAnswer(database(true), 'x'.repeat(2_000))).toEqual({ ok: true, answer: 'x'.repeat(2_000) });
    const result = matchAnswer(database(true), 'x'.repeat(2_001));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toContain('2,001 characters');
  });

  it('mentions free answers in the hint when they are welcome', () => {
    const result = matchAnswer({ ...database(true), options: [{ label: 'Yes' }] }, 'x'.repeat(3_000));
    expect(result.ok).toBe(false);
    const refused = matchAnswer({ ...database(false), options: [{ label: 'Yes' }] }, 'no');
    expect(refused).toEqual({
      ok: false,
      reason: "That is not one of the options. Reply with 1 or the option's name: 1 Yes",
    });
  });

  it('asks rather than guesses when a number is both an option number and a label', () => {
    const workers: Question = {
      id: 'w',
      question: 'How many workers?',
      options: [{ label: '2' }, { label: '4' }, { label: '8' }],
      allowOther: true,
    };
    expect(matchAnswer(workers, '3')).toEqual({ ok: true, answer: '8' });
    expect(matchAnswer(workers, '4')).toEqual({ ok: true, answer: '4' });
    const both = matchAnswer(workers, '2');
    expect(both.ok).toBe(false);
    if (!both.ok) expect(both.reason).toContain('option 2 (4)');
  });
});
