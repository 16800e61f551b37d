/** The card for a question the agent asks mid-run: its options as buttons, and later the answer. */

import type { QuestionAnswers, QuestionRequest } from '../agents/types.js';
import { cardText, expiresIn, fitsCardBudget, oneLine, truncate, visible } from './approval-card.js';
import { mentionIds } from './markdown.js';
import type { CardJson } from './run-card.js';

export interface QuestionCardView {
  question: QuestionRequest;
  /** Who may answer, e.g. "Ana or an admin". */
  askedOf: string;
  expiresAt: number;
  now: number;
  status: 'pending' | 'answered' | 'expired' | 'cancelled';
  /** Shown in the answered state. */
  answers?: QuestionAnswers;
  answeredBy?: string;
  /** Signed callback value for each option button, by question id then option index. Only while pending. */
  optionValues?: Record<string, Record<string, unknown>[]>;
}

type Question = QuestionRequest['questions'][number];

/** How much text a card shows; scaled down until the card fits (20 long options escape to a lot). */
interface Caps {
  question: number;
  label: number;
  description: number;
  answer: number;
  name: number;
  /** Option buttons are the first thing to go when a card is too big: replying by number still works. */
  buttons: boolean;
}

const FULL_CAPS: Caps = {
  question: 1_000,
  label: 120,
  description: 240,
  answer: 600,
  name: 60,
  buttons: true,
};
const SCALES = [1, 0.5, 0.25, 0.1];
const BUTTON_LABEL_CHARS = 40;
const HEADER_CHARS = 60;

export function questionCard(view: QuestionCardView): CardJson {
  let card: CardJson = {};
  for (const buttons of [true, false]) {
    for (const scale of SCALES) {
      card = buildQuestionCard(view, { ...scaleCaps(FULL_CAPS, scale), buttons });
      if (fitsCardBudget(card)) return card;
    }
  }
  return card;
}

function buildQuestionCard(view: QuestionCardView, caps: Caps): CardJson {
  const header = headerFor(view);
  let elements: CardJson[];
  switch (view.status) {
    case 'pending':
      elements = pendingElements(view, caps);
      break;
    case 'answered':
      elements = [markdown(answeredLines(view, caps).join('\n\n'))];
      break;
    case 'expired':
      elements = [
        markdown(questionTexts(view.question, caps).join('\n\n')),
        notation('Nobody answered in time; the agent was told nobody answered.'),
      ];
      break;
    case 'cancelled':
      elements = [
        markdown(questionTexts(view.question, caps).join('\n\n')),
        notation('No longer needed: the agent stopped waiting for an answer.'),
      ];
      break;
  }
  return {
    schema: '2.0',
    config: { update_multi: true, summary: { content: header.title } },
    header: { title: { tag: 'plain_text', content: header.title }, template: header.template },
    body: { elements },
  };
}

function headerFor(view: QuestionCardView): { title: string; template: string } {
  const topic = topicOf(view.question);
  switch (view.status) {
    case 'pending':
      return { title: `❓ ${topic}`, template: 'blue' };
    case 'answered':
      return { title: `✅ Answered: ${topic}`, template: 'green' };
    case 'expired':
      return { title: '⌛ Question expired', template: 'grey' };
    case 'cancelled':
      return { title: '⏹ Question cancelled', template: 'grey' };
  }
}

/** The header's words: the question's own header, or what kind of card this is. */
function topicOf(request: QuestionRequest): string {
  const headers = request.questions.map((q) => oneLine(q.header ?? '')).filter(Boolean);
  if (request.questions.length === 1 && headers[0]) return truncate(headers[0], HEADER_CHARS);
  return request.questions.length > 1 ? `${request.questions.length} questions` : 'Question';
}

// ── pending ────────────────────────────────────────────────────────────────────────────────

function pendingElements(view: QuestionCardView, caps: Caps): CardJson[] {
  const several = view.question.questions.length > 1;
  const elements: CardJson[] = [];
  let withButtons = false;
  view.question.questions.forEach((q, index) => {
    const title = several
      ? `**Question ${index + 1}**${q.header?.trim() ? ` · ${text(q.header, 80)}` : ''}\n`
      : '';
    const options = q.options.map((o, i) => optionLine(o, i, caps)).join('\n');
    elements.push(markdown(`${title}${multiline(q.question, caps.question)}\n${options}`));
    const values = caps.buttons ? (view.optionValues?.[q.id] ?? []) : [];
    q.options.forEach((option, i) => {
      const value = values[i];
      if (!value) return;
      elements.push(optionButton(option.label, value));
      withButtons = true;
    });
  });
  elements.push(notation(hintLines(view, withButtons, caps).join('\n')));
  return elements;
}

function optionLine(option: Question['options'][number], index: number, caps: Caps): string {
  const description = option.description?.trim()
    ? ` <font color='grey'>— ${text(option.description, caps.description)}</font>`
    : '';
  return `${index + 1}. ${text(option.label, caps.label)}${description}`;
}

function hintLines(view: QuestionCardView, withButtons: boolean, caps: Caps): string[] {
  const allowOther = view.question.questions.some((q) => q.allowOther);
  const how = withButtons
    ? 'Tap an option, or reply with its number, its name'
    : "Reply with an option's number, its name";
  return [
    `${how}${allowOther ? ', or your own answer' : ''} · ${expiresIn(view.expiresAt, view.now)}`,
    `Who may answer: ${person(view.askedOf, caps.name) || 'anyone here'}`,
  ];
}

function optionButton(label: string, value: Record<string, unknown>): CardJson {
  return {
    tag: 'button',
    type: 'default',
    size: 'small',
    width: 'fill',
    // Plain text: a label cannot format or mention anyone here.
    text: { tag: 'plain_text', content: truncate(oneLine(label), BUTTON_LABEL_CHARS) || '(empty)' },
    behaviors: [{ type: 'callback', value }],
  };
}

// ── answered, expired, cancelled ───────────────────────────────────────────────────────────

function answeredLines(view: QuestionCardView, caps: Caps): string[] {
  const lines = view.question.questions.map((q) => {
    const given = (view.answers?.[q.id] ?? []).map((a) => text(a, caps.answer)).filter(Boolean);
    const answer = given.length > 0 ? given.join(', ') : '_no answer_';
    return `${multiline(q.question, caps.question)}\n→ ${answer}`;
  });
  const by = view.answeredBy?.trim() ? person(view.answeredBy, caps.name) : '';
  if (by) lines.push(`<font color='grey'>Answered by ${by}</font>`);
  return lines;
}

function questionTexts(request: QuestionRequest, caps: Caps): string[] {
  return request.questions.map((q) => multiline(q.question, caps.question));
}

// ── helpers ────────────────────────────────────────────────────────────────────────────────

/** Outside text on one line, cut to `max`, safe as markdown. */
/** Names, with open ids shown as mentions. */
function person(value: string, max: number): string {
  return mentionIds(truncate(oneLine(value), max), cardText);
}

function text(value: string, max: number): string {
  return cardText(truncate(oneLine(value), max));
}

/** Outside text keeping its line breaks (a question may have several lines). */
function multiline(value: string, max: number): string {
  return cardText(truncate(visible(value).trim(), max));
}

function markdown(content: string): CardJson {
  return { tag: 'markdown', content };
}

function notation(content: string): CardJson {
  return { tag: 'markdown', text_size: 'notation', content };
}

function scaleCaps(caps: Caps, scale: number): Caps {
  const n = (value: number) => Math.max(20, Math.floor(value * scale));
  return {
    question: n(caps.question),
    label: n(caps.label),
    description: n(caps.description),
    answer: n(caps.answer),
    name: n(caps.name),
    buttons: caps.buttons,
  };
}
