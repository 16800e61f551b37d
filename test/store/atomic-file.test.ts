import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readJsonSync, writeFileAtomicSync } from '../../src/store/atomic-file.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'larkcode-atomic-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('writeFileAtomicSync / readJsonSync', () => {
  it('round-trips JSON and replaces the whole file', () => {
    const path = join(dir, 'a.json');
    writeFileAtomicSync(path, JSON.stringify({ long: 'x'.repeat(10_000) }));
    writeFileAtomicSync(path, JSON.stringify({ short: 1 }));
    expect(readJsonSync(path)).toEqual({ short: 1 });
    expect(readdirSync(dir)).toEqual(['a.json']); // no temp file left behind
  });

  it('writes bytes as well as strings', () => {
    const path = join(dir, 'b.bin');
    writeFileAtomicSync(path, new Uint8Array([1, 2, 3]));
    expect([...readFileSync(path)]).toEqual([1, 2, 3]);
  });

  it('creates files 0600 by default, or with the given mode', () => {
    if (process.platform === 'win32') return;
    writeFileAtomicSync(join(dir, 'p'), 'x');
    writeFileAtomicSync(join(dir, 'q'), 'x', { mode: 0o640 });
    expect(statSync(join(dir, 'p')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'q')).mode & 0o777 & ~process.umask()).toBe(0o640 & ~process.umask());
  });

  it('is not confused by a leftover temp file from a killed writer', () => {
    const path = join(dir, 'c.json');
    writeFileSync(`${path}.tmp`, '{"half":');
    writeFileAtomicSync(path, '{"ok":true}');
    expect(readJsonSync(path)).toEqual({ ok: true });
    expect(readdirSync(dir)).toEqual(['c.json']);
  });

  it('readJsonSync: undefined when missing, SyntaxError when corrupt', () => {
    expect(readJsonSync(join(dir, 'missing.json'))).toBeUndefined();
    writeFileSync(join(dir, 'bad.json'), '{"torn');
    expect(() => readJsonSync(join(dir, 'bad.json'))).toThrow(SyntaxError);
  });

  it('fails loudly when the directory does not exist', () => {
    expect(() => writeFileAtomicSync(join(dir, 'nope', 'x.json'), '{}')).toThrow(/ENOENT/);
  });
});
