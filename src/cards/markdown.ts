/** Small helpers for Feishu card markdown. */

import type { ApprovalRequest } from '../agents/types.js';

/** Codex wraps every command as `/bin/bash -lc '<cmd>'`; people want to see `<cmd>`. */
export function displayCommand(command: string): string {
  const match = /^\/bin\/(?:ba|z)?sh\s+-l?c\s+(['"])([\s\S]*)\1$/.exec(command.trim());
  if (!match) return command.trim();
  const inner = match[2] ?? '';
  // Inside double quotes (codex uses them when the command has a single quote) a backslash escapes only " \\ $ and `.
  return match[1] === "'" ? inner.replaceAll(`'\\''`, `'`) : inner.replace(/\\([\\"$`])/g, '$1');
}

/** Inline code that survives backticks inside the command. */
export function inlineCode(text: string): string {
  const oneLine = text.replace(/\s*\n\s*/g, ' ⏎ ');
  const fence = oneLine.includes('`') ? '``' : '`';
  return `${fence}${oneLine}${fence}`;
}

/** A fenced block whose content cannot close the fence early. */
export function codeBlock(text: string, language = ''): string {
  const safe = text.replace(/```/g, '`\u200b``');
  return `\`\`\`${language}\n${safe}\n\`\`\``;
}

/** Keep the end of long output: the last lines are what explains a failure. */
export function tail(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  return `… (${text.length - maxChars} earlier characters omitted)\n${text.slice(-maxChars)}`;
}

export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/**
 * Someone's words shown as plain text inside card markdown. Feishu wants HTML entities for
 * special characters (research: feishu-platform.md §1.2c), so a message can neither format the
 * card nor forge an `<at>` tag.
 */
export function escapeMarkdown(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').replace(/[&*~><[\]()#_$`|\\]/g, (mark) => `&#${mark.charCodeAt(0)};`);
}

/**
 * A person's name in card markdown: an open id becomes a mention (`<at id=…>`, which Feishu shows
 * as the person's name); anything else goes through `escapePlain`.
 */
export function mentionIds(text: string, escapePlain: (plain: string) => string): string {
  return text
    .split(/\b(ou_[A-Za-z0-9]+)\b/)
    .map((part, index) => (index % 2 === 1 ? `<at id=${part}></at>` : part ? escapePlain(part) : ''))
    .join('');
}

/** A small card button whose press comes back as a `card.action.trigger` with `value`. */
export function callbackButton(
  text: string,
  value: Record<string, unknown>,
  type = 'default',
): Record<string, unknown> {
  return {
    tag: 'button',
    type,
    size: 'small',
    text: { tag: 'plain_text', content: text },
    behaviors: [{ type: 'callback', value }],
  };
}

/** What an approval request asks for, in a few words: "Command `npm test`", "Change 2 files". */
export function approvalSubject(request: ApprovalRequest): string {
  if (request.kind === 'command') {
    const command = displayCommand(request.command ?? request.argv?.join(' ') ?? '').replace(/\s+/g, ' ');
    return `Command ${inlineCode(command.length > 120 ? `${command.slice(0, 119)}…` : command)}`;
  }
  if (request.kind === 'file_change') {
    const count = request.changes?.length ?? 0;
    return `Change ${count} file${count === 1 ? '' : 's'}`;
  }
  return request.network ? 'Network access' : 'Extra permissions';
}
