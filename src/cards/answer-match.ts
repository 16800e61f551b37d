/** Matching a typed reply to one of a question's options, so people can answer without tapping. */

import type { QuestionRequest } from '../agents/types.js';

type Question = QuestionRequest['questions'][number];

export type AnswerMatch = { ok: true; answer: string } | { ok: false; reason: string };

/** A free-text answer longer than this is more likely a pasted mistake than an answer. */
export const MAX_FREE_ANSWER_CHARS = 2_000;

// Shorter prefixes match too much by accident ("s" for both SQLite and "Skip").
const MIN_PREFIX_CHARS = 2;

// Labels in the "reply with" hint are kept short: the hint is a chat reply, not the card.
const HINT_LABEL_CHARS = 40;

/**
 * What `text` answers: an option's number (1..n), its label (any case), the one label it is a
 * prefix of, or — when the question allows it — the text itself.
 */
export function matchAnswer(question: Question, text: string): AnswerMatch {
  const reply = text.trim();
  const labels = question.options.map((o) => o.label);
  if (!reply) return { ok: false, reason: `The reply is empty. ${replyHint(question)}` };

  const wanted = normalize(reply);
  const exact = labels.find((label) => normalize(label) === wanted);
  const number = /^#?(\d{1,6})[.)]?$/.exec(reply)?.[1];
  const picked = number === undefined ? undefined : labels[Number(number) - 1];
  if (picked !== undefined) {
    // Options named by numbers ("2", "4", "8"): "2" could be either, and guessing wrong is worse than asking.
    if (exact !== undefined && exact !== picked)
      return {
        ok: false,
        reason: `"${reply}" could mean option ${number} (${shorten(picked)}) or the option named ${shorten(exact)}. Tap the one you mean.`,
      };
    return { ok: true, answer: picked };
  }
  if (exact !== undefined) return { ok: true, answer: exact };

  if (wanted.length >= MIN_PREFIX_CHARS) {
    const prefixOf = labels
      .map((label, index) => ({ label, index }))
      .filter(({ label }) => normalize(label).startsWith(wanted));
    if (prefixOf.length === 1) return { ok: true, answer: (prefixOf[0] as { label: string }).label };
    if (prefixOf.length > 1) {
      const which = prefixOf.map(({ label, index }) => `${index + 1} ${shorten(label)}`).join(', ');
      return {
        ok: false,
        reason: `"${shorten(reply)}" matches more than one option (${which}). Reply with the number of the one you mean.`,
      };
    }
  }

  // An out-of-range number is a fine free answer ("16" workers when the options are 2, 4 and 8).
  if (question.allowOther) {
    if (reply.length > MAX_FREE_ANSWER_CHARS)
      return {
        ok: false,
        reason: `The answer is ${reply.length.toLocaleString('en-US')} characters long; keep it under ${MAX_FREE_ANSWER_CHARS.toLocaleString('en-US')}.`,
      };
    return { ok: true, answer: reply };
  }
  if (number !== undefined)
    return { ok: false, reason: `There is no option ${number}. ${replyHint(question)}` };
  return { ok: false, reason: `That is not one of the options. ${replyHint(question)}` };
}

/** "Reply with 1–3 or an option's name: 1 Postgres, 2 SQLite, 3 MySQL". */
function replyHint(question: Question): string {
  const count = question.options.length;
  if (count === 0)
    return question.allowOther ? 'Reply with your answer.' : 'This question has no options to choose from.';
  const list = question.options.map((o, i) => `${i + 1} ${shorten(o.label)}`).join(', ');
  const numbers = count === 1 ? '1' : `1–${count}`;
  const other = question.allowOther ? ', or with your own answer' : '';
  return `Reply with ${numbers} or ${count === 1 ? "the option's" : "an option's"} name${other}: ${list}`;
}

function normalize(text: string): string {
  return text.normalize('NFKC').replace(/\s+/g, ' ').trim().toLowerCase();
}

function shorten(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > HINT_LABEL_CHARS ? `${oneLine.slice(0, HINT_LABEL_CHARS - 1)}…` : oneLine;
}
