import { openFence as openFenceOf } from '../cards/card-budget.js';

const CHUNK_CHARS = 3500;

/**
 * Split long text into message-sized chunks with [i/n] headers, preferring
 * paragraph and line breaks, and never cutting inside a fenced code block
 * without closing and reopening it.
 */
export function splitForTextMessages(text: string, limit = CHUNK_CHARS): string[] {
  if (text.length <= limit) return [text];
  const pieces: string[] = [];
  let rest = text;
  let openFence: string | undefined;
  while (rest.length > 0) {
    const reopen = openFence ? `${openFence}\n` : '';
    const budget = limit - reopen.length - 8;
    let cut = rest.length <= budget ? rest.length : bestCut(rest, budget);
    if (cut <= 0) cut = budget;
    let piece = reopen + rest.slice(0, cut);
    rest = rest.slice(cut).replace(/^\n+/, '');
    openFence = openFenceOf(piece);
    if (openFence && rest.length > 0) piece += '\n```';
    pieces.push(piece);
  }
  return pieces.map((piece, i) => `[${i + 1}/${pieces.length}]\n${piece}`);
}

function bestCut(text: string, budget: number): number {
  const window = text.slice(0, budget);
  const paragraph = window.lastIndexOf('\n\n');
  if (paragraph > budget * 0.5) return paragraph;
  const line = window.lastIndexOf('\n');
  if (line > budget * 0.5) return line;
  return budget;
}
