// Card JSON helpers: element counting, table counting, element lookup and a readable text rendering.

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The top-level component list: JSON 2.0 keeps it in body.elements, 1.0 in elements. */
export function topElements(card: Json): unknown[] {
  const body = card.body;
  if (isObject(body) && Array.isArray(body.elements)) return body.elements;
  if (Array.isArray(card.elements)) return card.elements;
  return [];
}

// Keys whose values are never components or visible text (callback payloads, config, i18n copies).
const SKIPPED_KEYS = new Set([
  'config',
  'behaviors',
  'value',
  'card_link',
  'i18n_content',
  'i18n',
  'confirm',
]);

/** Every object with a `tag` below the card body counts, including nested plain_text in buttons. */
export function countElements(card: Json): number {
  let count = 0;
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) walk(item);
      return;
    }
    if (!isObject(node)) return;
    if (typeof node.tag === 'string') count++;
    for (const [key, value] of Object.entries(node)) {
      if (!SKIPPED_KEYS.has(key)) walk(value);
    }
  };
  walk(topElements(card));
  return count;
}

// A markdown table is recognised by its delimiter row, e.g. `| --- | :--: |`.
const TABLE_DELIMITER = /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)+\|?\s*$/;

export function countMarkdownTables(text: string): number {
  return text.split('\n').filter((line) => TABLE_DELIMITER.test(line)).length;
}

/** Markdown tables in every markdown/lark_md text of the card, plus `table` components. */
export function countTables(card: Json): number {
  let count = 0;
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) walk(item);
      return;
    }
    if (!isObject(node)) return;
    if ((node.tag === 'markdown' || node.tag === 'lark_md') && typeof node.content === 'string') {
      count += countMarkdownTables(node.content);
    }
    if (node.tag === 'table') count++;
    for (const [key, value] of Object.entries(node)) {
      if (!SKIPPED_KEYS.has(key)) walk(value);
    }
  };
  walk(card);
  return count;
}

export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

export interface ElementLocation {
  element: Json;
  siblings: unknown[];
  index: number;
}

/** Depth-first search for a component by element_id anywhere in the card body. */
export function findElement(card: Json, elementId: string): ElementLocation | undefined {
  const walkList = (list: unknown[]): ElementLocation | undefined => {
    for (let i = 0; i < list.length; i++) {
      const item = list[i];
      if (!isObject(item)) continue;
      if (item.element_id === elementId) return { element: item, siblings: list, index: i };
      const found = walkNode(item);
      if (found) return found;
    }
    return undefined;
  };
  const walkNode = (node: Json): ElementLocation | undefined => {
    for (const [key, value] of Object.entries(node)) {
      if (SKIPPED_KEYS.has(key)) continue;
      if (Array.isArray(value)) {
        const found = walkList(value);
        if (found) return found;
      } else if (isObject(value)) {
        const found = walkNode(value);
        if (found) return found;
      }
    }
    return undefined;
  };
  return walkList(topElements(card));
}

export function collectElementIds(card: Json): string[] {
  const ids: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) walk(item);
      return;
    }
    if (!isObject(node)) return;
    if (typeof node.element_id === 'string') ids.push(node.element_id);
    for (const [key, value] of Object.entries(node)) {
      if (!SKIPPED_KEYS.has(key)) walk(value);
    }
  };
  walk(topElements(card));
  return ids;
}

const TEXT_TAGS = new Set(['markdown', 'plain_text', 'lark_md']);

/**
 * What a reader sees, one line per text: header title, subtitle, text tags, then every
 * markdown/plain_text in document order (panel titles before their contents, button labels).
 */
export function renderCardText(card: Json): string {
  const lines: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) walk(item);
      return;
    }
    if (!isObject(node)) return;
    if ((TEXT_TAGS.has(String(node.tag)) || node.tag === undefined) && typeof node.content === 'string') {
      if (node.content !== '') lines.push(node.content);
    }
    for (const [key, value] of Object.entries(node)) {
      if (SKIPPED_KEYS.has(key) || key === 'content') continue;
      walk(value);
    }
  };
  if (isObject(card.header)) walk(card.header);
  walk(topElements(card));
  return lines.join('\n');
}

/** Text of a post message: title, then each paragraph's elements concatenated. */
export function renderPostText(content: Json): string {
  let post: unknown = content;
  if (isObject(post) && isObject(post.post)) post = post.post;
  if (isObject(post) && !Array.isArray(post.content)) {
    const firstLocale = Object.values(post).find((v) => isObject(v) && Array.isArray(v.content));
    if (firstLocale) post = firstLocale;
  }
  if (!isObject(post)) return '';
  const lines: string[] = [];
  if (typeof post.title === 'string' && post.title) lines.push(post.title);
  for (const paragraph of Array.isArray(post.content) ? post.content : []) {
    if (!Array.isArray(paragraph)) continue;
    const parts = paragraph.map((el) => {
      if (!isObject(el)) return '';
      switch (el.tag) {
        case 'text':
        case 'md':
        case 'a':
        case 'code_block':
          return String(el.text ?? '');
        case 'at':
          return `@${String(el.user_name ?? el.user_id ?? '')}`;
        case 'hr':
          return '---';
        case 'img':
          return '[image]';
        case 'media':
          return '[media]';
        case 'emotion':
          return `:${String(el.emoji_type ?? '')}:`;
        default:
          return String(el.text ?? '');
      }
    });
    lines.push(parts.join(''));
  }
  return lines.join('\n');
}
