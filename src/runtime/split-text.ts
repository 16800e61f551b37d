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
    openFence = unclosedFence(piece);
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

/** The opening fence (e.g. "```ts") left open at the end of `text`, if any. */
function unclosedFence(text: string): string | undefined {
  let open: string | undefined;
  for (const line of text.split('\n')) {
    const fence = /^\s*(```+)(.*)$/.exec(line);
    if (!fence) continue;
    open = open ? undefined : `${fence[1]}${fence[2]?.trim() ?? ''}`;
  }
  return open;
}
