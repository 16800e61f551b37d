/** The card that asks a person to approve what the agent wants to do, and records the decision. */

import type { ApprovalRequest, SandboxMode } from '../agents/types.js';
import { cardElementCount, cardTableCount, utf8Bytes } from './card-budget.js';
import { callbackButton, codeBlock, displayCommand, escapeMarkdown, mentionIds } from './markdown.js';
import { CARD_BUDGET, type CardJson } from './run-card.js';

export interface ApprovalCardView {
  request: ApprovalRequest;
  risk: 'read' | 'write' | 'dangerous';
  /** Why the risk is what it is, e.g. "runs outside the sandbox". */
  hints: string[];
  /** Who started the run (display name or open id). */
  requesterName: string;
  /** Who may decide, e.g. "you or an admin", "the owner". */
  approversText: string;
  sandbox: SandboxMode;
  /** The scope's sandbox network setting. */
  networkAccess: boolean;
  expiresAt: number;
  now: number;
  status: 'pending' | 'approved' | 'denied' | 'expired' | 'cancelled';
  /** Who decided, shown in final states. */
  decidedBy?: string;
  /** E.g. "Always allowed `npm test` in this workspace", "the run was stopped". */
  note?: string;
  /** Signed callback values; buttons only while pending and only for those given. */
  buttons?: {
    approve?: Record<string, unknown>;
    deny?: Record<string, unknown>;
    always?: Record<string, unknown>;
  };
  /** The prefix "Always allow" stores, shown on its button: "Always allow `npm test` here". */
  alwaysPrefix?: string[];
}

/**
 * How much of each piece of text a card shows. Scaled down when hostile or huge input (text
 * made of characters that escape to six bytes each, hundreds of paths) would overflow a card.
 */
interface Caps {
  commandHead: number;
  commandTail: number;
  files: number;
  path: number;
  reason: number;
  name: number;
  hint: number;
  note: number;
}

const FULL_CAPS: Caps = {
  commandHead: 1_000,
  commandTail: 500,
  files: 20,
  path: 160,
  reason: 800,
  name: 60,
  hint: 120,
  note: 300,
};

/** Tried in order until the card fits; the last is small enough for any input. */
const SCALES = [1, 0.5, 0.25, 0.1];

const ASKS_TO: Record<ApprovalRequest['kind'], string> = {
  command: 'run a command',
  file_change: 'change files',
  permissions: 'extra permissions',
};

export function approvalCard(view: ApprovalCardView): CardJson {
  let card: CardJson = {};
  for (const scale of SCALES) {
    card = buildApprovalCard(view, scaleCaps(FULL_CAPS, scale));
    if (fitsCardBudget(card)) return card;
  }
  return card;
}

function buildApprovalCard(view: ApprovalCardView, caps: Caps): CardJson {
  const { request } = view;
  const elements: CardJson[] = [...requestElements(request, caps)];
  elements.push(markdown(contextLines(view, caps).join('\n')));
  elements.push(markdown(riskLine(view, caps)));
  if (view.status === 'pending') {
    elements.push(notation(pendingLine(view, caps)));
    const buttons = decisionButtons(view);
    if (buttons.length > 0) elements.push(buttonRow(buttons));
  } else {
    elements.push(markdown(outcomeLines(view, caps).join('\n')));
  }
  const header = headerFor(view);
  return {
    schema: '2.0',
    config: { update_multi: true, summary: { content: header.title } },
    header: { title: { tag: 'plain_text', content: header.title }, template: header.template },
    body: { elements },
  };
}

function headerFor(view: ApprovalCardView): { title: string; template: string } {
  switch (view.status) {
    case 'pending':
      return {
        title: `🔐 Approval needed: ${ASKS_TO[view.request.kind]}`,
        template: view.risk === 'dangerous' ? 'red' : 'orange',
      };
    case 'approved':
      return { title: '✅ Approved', template: 'green' };
    case 'denied':
      return { title: '⛔ Denied', template: 'red' };
    case 'expired':
      return { title: '⌛ Expired — denied', template: 'grey' };
    case 'cancelled':
      return { title: '⏹ Cancelled', template: 'grey' };
  }
}

// ── what is asked ──────────────────────────────────────────────────────────────────────────

function requestElements(request: ApprovalRequest, caps: Caps): CardJson[] {
  switch (request.kind) {
    case 'command':
      return commandElements(request, caps);
    case 'file_change':
      return [markdown(fileLines(request.changes ?? [], caps).join('\n'))];
    case 'permissions':
      return [markdown(`**Asks for:** ${permissionsAsked(request)}`)];
  }
}

function commandElements(request: ApprovalRequest, caps: Caps): CardJson[] {
  const command = visible(displayCommand(request.command ?? request.argv?.join(' ') ?? ''));
  if (!command) return [markdown('_The agent did not say which command._')];
  const omitted = command.length - caps.commandHead - caps.commandTail;
  if (omitted <= 0) return [markdown(codeBlock(codeSafe(command)))];
  // Both ends: what a long command ends with matters as much as how it starts.
  const head = sliceSafe(command, 0, caps.commandHead);
  const tail = sliceSafe(command, command.length - caps.commandTail);
  const marker = `⋯ ${count(omitted)} characters not shown ⋯`;
  return [
    markdown(codeBlock(codeSafe(`${head}\n${marker}\n${tail}`))),
    notation(
      `⚠️ The command is ${count(command.length)} characters long; the middle is not shown. Approving runs all of it.`,
    ),
  ];
}

const CHANGE_WORD = { add: 'add', update: 'update', delete: 'delete' } as const;

function fileLines(changes: NonNullable<ApprovalRequest['changes']>, caps: Caps): string[] {
  if (changes.length === 0) return ['_The agent did not say which files._'];
  const lines = changes
    .slice(0, caps.files)
    .map(
      (c) => `${CHANGE_WORD[c.change] ?? 'change'} · ${cardText(truncateStart(visible(c.path), caps.path))}`,
    );
  if (changes.length > caps.files) lines.push(`_+${count(changes.length - caps.files)} more_`);
  return lines;
}

function permissionsAsked(request: ApprovalRequest): string {
  const asked = [
    ...(request.network ? ['network access'] : []),
    ...(request.outsideSandbox ? ['running outside the sandbox'] : []),
  ];
  return asked.length > 0 ? asked.join(', ') : 'more than the sandbox allows';
}

function contextLines(view: ApprovalCardView, caps: Caps): string[] {
  const lines = [
    `📁 ${cardText(truncateStart(visible(view.request.cwd), caps.path))}`,
    `🔒 Sandbox: ${view.sandbox} · network ${view.networkAccess ? 'on' : 'off'}`,
  ];
  const reason = view.request.reason?.trim();
  if (reason) lines.push(`💬 ${cardText(truncate(visible(reason), caps.reason))}`);
  return lines;
}

const RISK_LABEL: Record<ApprovalCardView['risk'], string> = {
  read: '👀 Reads only',
  write: '✏️ Writes',
  dangerous: '⚠️ Dangerous',
};

function riskLine(view: ApprovalCardView, caps: Caps): string {
  const hints = view.hints
    .slice(0, 5)
    .map((h) => cardTextWithCode(truncate(oneLine(h), caps.hint)))
    .filter(Boolean);
  return hints.length > 0 ? `${RISK_LABEL[view.risk]}: ${hints.join('; ')}` : RISK_LABEL[view.risk];
}

// ── who decides, and how it ended ──────────────────────────────────────────────────────────

function pendingLine(view: ApprovalCardView, caps: Caps): string {
  return [
    `Asked by ${name(view.requesterName, caps)}`,
    `approval by ${name(view.approversText, caps)}`,
    expiresIn(view.expiresAt, view.now),
  ].join(' · ');
}

function outcomeLines(view: ApprovalCardView, caps: Caps): string[] {
  const by = view.decidedBy ? ` by ${name(view.decidedBy, caps)}` : '';
  const lines: string[] = [];
  if (view.status === 'approved') lines.push(`**Approved**${by}.`);
  if (view.status === 'denied') lines.push(`**Denied**${by}.`);
  if (view.status === 'expired') lines.push('Nobody decided in time, so it was denied.');
  if (view.status === 'cancelled') lines.push('No longer needed: nothing was decided.');
  const note = view.note?.trim();
  if (note) lines.push(cardTextWithCode(truncate(oneLine(note), caps.note)));
  lines.push(`<font color='grey'>Asked by ${name(view.requesterName, caps)}</font>`);
  return lines;
}

function decisionButtons(view: ApprovalCardView): CardJson[] {
  const given = view.buttons ?? {};
  const buttons: CardJson[] = [];
  if (given.approve) buttons.push(button('Approve', given.approve, 'primary'));
  if (given.deny) buttons.push(button('Deny', given.deny, 'danger'));
  if (given.always) buttons.push(button(alwaysLabel(view.alwaysPrefix), given.always, 'default'));
  return buttons;
}

/** "Always allow `npm test` here": the label is plain text, so backticks show as typed. */
function alwaysLabel(prefix: string[] | undefined): string {
  const words = oneLine(prefix?.join(' ') ?? '');
  return words ? `Always allow \`${truncate(words, 30)}\` here` : 'Always allow here';
}

function buttonRow(buttons: CardJson[]): CardJson {
  return {
    tag: 'column_set',
    flex_mode: 'flow',
    horizontal_spacing: '8px',
    columns: buttons.map((b) => ({ tag: 'column', width: 'auto', elements: [b] })),
  };
}

const button = callbackButton;

function markdown(content: string): CardJson {
  return { tag: 'markdown', content };
}

function notation(content: string): CardJson {
  return { tag: 'markdown', text_size: 'notation', content };
}

function name(text: string, caps: Caps): string {
  return mentionIds(truncate(oneLine(text), caps.name), cardText) || 'someone';
}

function scaleCaps(caps: Caps, scale: number): Caps {
  const scaled = {} as Caps;
  for (const key of Object.keys(caps) as (keyof Caps)[])
    scaled[key] = Math.max(key === 'files' ? 3 : 20, Math.floor(caps[key] * scale));
  return scaled;
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

// ── text from outside, made safe for card markdown ─────────────────────────────────────────
// Shared with question-card.ts.

/** Within the limits every larkcode card keeps (bytes, components, tables). */
export function fitsCardBudget(card: CardJson): boolean {
  return (
    utf8Bytes(JSON.stringify(card)) <= CARD_BUDGET.maxBytes &&
    cardElementCount(card) <= CARD_BUDGET.maxElements &&
    cardTableCount(card) <= CARD_BUDGET.maxTables
  );
}

/**
 * Text from a person or the agent as literal card markdown: it cannot format, link, mention
 * (`<at id=all>`), colour or build a table. `escapeMarkdown` does one line; line breaks are kept
 * here, so a line must not start a list or a heading either. Truncate before escaping, never
 * after: a cut entity would show its pieces.
 */
export function cardText(text: string): string {
  return text
    .split('\n')
    .map((line) =>
      escapeMarkdown(line).replace(
        /^(\s*)([-+=])/,
        (_, indent: string, c: string) => `${indent}&#${c.charCodeAt(0)};`,
      ),
    )
    .join('\n');
}

/** Like `cardText`, but `code spans` stay code: notes and hints quote commands that way. */
export function cardTextWithCode(text: string): string {
  return text
    .split(/(`[^`\n]+`)/)
    .map((part, i) => (i % 2 === 1 ? `\`${codeSafe(part.slice(1, -1))}\`` : cardText(part)))
    .join('');
}

/**
 * Inside a fenced block markdown is not read, but Feishu's tags might be: a zero-width space
 * after `<` keeps `<at id=all>` from being one, the way `codeBlock` keeps ``` from closing the fence.
 */
export function codeSafe(text: string): string {
  return text.replace(/<(?=[A-Za-z/!?])/g, '<\u200b');
}

// Characters that change what text looks like without showing themselves: controls, zero-width
// and bidirectional marks (a command could look harmless and run something else).
const INVISIBLE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff]/g;

/** Invisible characters named instead (`⟨U+202E⟩`), so what a person approves is what they see. */
export function visible(text: string): string {
  return text
    .replace(/\r\n/g, '\n')
    .replace(INVISIBLE, (c) => `⟨U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}⟩`);
}

export function oneLine(text: string): string {
  return visible(text).replace(/\s+/g, ' ').trim();
}

/** At most `max` characters, ending in `…` when cut; never splits a surrogate pair. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${sliceSafe(text, 0, Math.max(0, max - 1)).trimEnd()}…`;
}

/** Keeps the end (a path's file name matters most). */
function truncateStart(text: string, max: number): string {
  if (text.length <= max) return text;
  return `…${sliceSafe(text, text.length - Math.max(0, max - 1))}`;
}

function sliceSafe(text: string, start: number, end = text.length): string {
  let from = start;
  let to = end;
  if (from > 0 && isLowSurrogate(text.charCodeAt(from))) from++;
  if (to < text.length && isLowSurrogate(text.charCodeAt(to))) to--;
  return text.slice(from, to);
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/** "expires in 4 min", "expires in 45 s". */
export function expiresIn(expiresAt: number, now: number): string {
  const seconds = Math.ceil((expiresAt - now) / 1000);
  if (seconds <= 0) return 'expires now';
  if (seconds < 60) return `expires in ${seconds} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return `expires in ${minutes} min`;
  return `expires in ${Math.round(minutes / 60)} h`;
}
