import { countElements, countTables, utf8Bytes } from './card.js';
import { breach, type EmulatorCore } from './core.js';
import type { Reply } from './http.js';
import { LIMITS } from './limits.js';

type Json = Record<string, unknown>;

/** How one API answers each card-limit breach (message APIs and CardKit use different codes). */
export interface CardLimitAnswers {
  /** Bytes as sent, when the request carried the card as a string; default: its JSON. */
  bytes?: number;
  maxBytes: number;
  sizeLabel: string;
  tooBig: Reply;
  tooManyElements: Reply;
  tooManyTables: Reply;
}

/**
 * Size, component and markdown-table limits of one card. Records each breach; returns the
 * answer to send unless limits are off (then the request goes through).
 */
export function cardLimitError(
  core: EmulatorCore,
  card: Json,
  path: string,
  answers: CardLimitAnswers,
): Reply | undefined {
  const bytes = answers.bytes ?? utf8Bytes(JSON.stringify(card));
  const checks: [boolean, Parameters<typeof breach>[1], string, Reply][] = [
    [
      bytes > answers.maxBytes,
      'card_size',
      `${answers.sizeLabel} ${bytes} B > ${answers.maxBytes} B`,
      answers.tooBig,
    ],
    [
      countElements(card) > LIMITS.cardElements,
      'card_elements',
      `${countElements(card)} components > ${LIMITS.cardElements}`,
      answers.tooManyElements,
    ],
    [
      countTables(card) > LIMITS.cardTablesMax,
      'card_tables',
      `${countTables(card)} tables > ${LIMITS.cardTablesMax}`,
      answers.tooManyTables,
    ],
  ];
  for (const [broken, kind, detail, answer] of checks) {
    if (!broken) continue;
    const error = breach(core, kind, detail, path, answer);
    if (error) return error;
  }
  return undefined;
}
