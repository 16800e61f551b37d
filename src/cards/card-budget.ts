/** Measuring a card against Feishu's limits, and splitting markdown so each part stays valid. */

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

// Keys whose values are never components (callback payloads, config, i18n copies).
const NOT_COMPONENTS = new Set([
  'config',
  'behaviors',
  'value',
  'card_link',
  'i18n_content',
  'i18n',
  'confirm',
]);

export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** Visit every object below `node` that may be a component (not callback values or config). */
function visitComponents(node: unknown, visit: (component: Json) => void): void {
  if (Array.isArray(node)) {
    for (const item of node) visitComponents(item, visit);
    return;
  }
  if (!isObject(node)) return;
  visit(node);
  for (const [key, value] of Object.entries(node))
    if (!NOT_COMPONENTS.has(key)) visitComponents(value, visit);
}

/** Components as Feishu counts them: every tagged object in the body, nested ones included. */
export function cardElementCount(card: Json): number {
  let count = 0;
  visitComponents(isObject(card.body) ? card.body.elements : [], (node) => {
    if (typeof node.tag === 'string') count++;
  });
  return count;
}

// A markdown table is recognised by its delimiter row, e.g. `| --- | :--: |`.
const TABLE_DELIMITER = /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)+\|?\s*$/;

export function markdownTableCount(text: string): number {
  let count = 0;
  for (const line of text.split('\n')) if (TABLE_DELIMITER.test(line)) count++;
  return count;
}

/** Markdown tables in every markdown text plus `table` components (Feishu fails at 4). */
export function cardTableCount(card: Json): number {
  let count = 0;
  visitComponents(card.body, (node) => {
    if (node.tag === 'markdown' && typeof node.content === 'string')
      count += markdownTableCount(node.content);
    if (node.tag === 'table') count++;
  });
  return count;
}

const FENCE = /^ {0,3}(`{3,}|~{3,})(.*)$/;

/** The opening line of a fenced code block still open at the end of `text`, if any. */
export function openFence(text: string): string | undefined {
  let open: { marker: string; line: string } | undefined;
  for (const line of text.split('\n')) {
    const match = FENCE.exec(line);
    if (!match) continue;
    const marker = match[1] ?? '```';
    if (!open) open = { marker, line: line.trim() };
    else if (marker[0] === open.marker[0] && marker.length >= open.marker.length && !match[2]?.trim())
      open = undefined;
  }
  return open?.line;
}

function closingFor(fenceLine: string): string {
  return /^(`{3,}|~{3,})/.exec(fenceLine)?.[1] ?? '```';
}

export const splitMarkdown = {
  /** What a part starting at `offset` must begin with: the code fence open there, reopened. */
  reopenFenceAt(text: string, offset: number): string {
    if (offset <= 0) return '';
    const fence = openFence(text.slice(0, offset));
    return fence ? `${fence}\n` : '';
  },

  /** Close a fence the part leaves open, so it renders on its own. */
  closeFences(part: string): string {
    const fence = openFence(part);
    return fence ? `${part}\n${closingFor(fence)}` : part;
  },

  /**
   * The longest prefix of `text` (a cut position) whose part — `reopen` + prefix, fences
   * closed — `fits`, moved back to a paragraph, line or word break when one is near.
   * 0 when nothing fits.
   */
  largestFittingCut(text: string, reopen: string, fits: (part: string) => boolean): number {
    const partFor = (n: number) => splitMarkdown.closeFences(reopen + text.slice(0, n));
    let low = 0;
    let high = text.length;
    while (low < high) {
      const mid = Math.ceil((low + high) / 2);
      if (fits(partFor(mid))) low = mid;
      else high = mid - 1;
    }
    if (low === 0) return 0;
    return niceBreak(text, low);
  },
};

function niceBreak(text: string, max: number): number {
  if (max >= text.length) return text.length;
  const window = text.slice(0, max);
  const paragraph = window.lastIndexOf('\n\n');
  if (paragraph > max * 0.5) return paragraph + 2;
  const line = window.lastIndexOf('\n');
  if (line > max * 0.5) return line + 1;
  const space = window.lastIndexOf(' ');
  if (space > max * 0.8) return space + 1;
  // Never split a surrogate pair.
  const code = text.charCodeAt(max - 1);
  return code >= 0xd800 && code <= 0xdbff ? max - 1 : max;
}
