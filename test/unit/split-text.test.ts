import { describe, expect, it } from 'vitest';
import { splitForTextMessages } from '../../src/runtime/split-text.js';

describe('splitForTextMessages', () => {
  it('keeps short text whole', () => {
    expect(splitForTextMessages('hello')).toEqual(['hello']);
  });

  it('splits long text with [i/n] headers, losing nothing', () => {
    const paragraphs = Array.from({ length: 40 }, (_, i) => `paragraph ${i} ${'x'.repeat(200)}`);
    const chunks = splitForTextMessages(paragraphs.join('\n\n'), 1000);
    expect(chunks.length).toBeGreaterThan(5);
    chunks.forEach((chunk, i) => {
      expect(chunk.startsWith(`[${i + 1}/${chunks.length}]\n`)).toBe(true);
      expect(chunk.length).toBeLessThanOrEqual(1000);
    });
    const joined = chunks.map((c) => c.replace(/^\[\d+\/\d+\]\n/, '')).join('\n\n');
    for (const p of paragraphs) expect(joined).toContain(p);
  });

  it('closes and reopens a code fence cut in the middle', () => {
    const code = `\`\`\`ts\n${Array.from({ length: 100 }, (_, i) => `const v${i} = ${i};`).join('\n')}\n\`\`\``;
    const chunks = splitForTextMessages(code, 600);
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks) {
      const fences = chunk.split('\n').filter((l) => l.startsWith('```')).length;
      expect(fences % 2).toBe(0);
    }
    expect(chunks[1]).toContain('```ts');
  });
});
