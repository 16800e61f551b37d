import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LarkcodeError } from '../../src/core/errors.js';
import { CallbackKeyStore } from '../../src/security/callback-keys.js';

const DAY = 24 * 60 * 60 * 1000;
const T0 = 1_700_000_000_000;
const newDir = () => mkdtempSync(join(tmpdir(), 'larkcode-keys-'));
const keyFile = (dir: string) => join(dir, 'callback-keys.json');
const clock = (start = T0) => {
  const c = { t: start, now: () => c.t };
  return c;
};
const readFile = (dir: string) =>
  JSON.parse(readFileSync(keyFile(dir), 'utf8')) as {
    current: number;
    keys: { version: number; secret: string; createdAt: number }[];
  };

describe('CallbackKeyStore', () => {
  it('creates a 0600 file with version 1 and a 32-byte secret', () => {
    const dir = join(newDir(), 'state');
    const store = CallbackKeyStore.open(dir, { now: () => T0 });
    expect(statSync(keyFile(dir)).mode & 0o777).toBe(0o600);
    expect(existsSync(`${keyFile(dir)}.tmp`)).toBe(false);
    const { version, secret } = store.current();
    expect(version).toBe(1);
    expect(secret.length).toBe(32);
    expect(store.get(1)?.equals(secret)).toBe(true);
    expect(store.get(2)).toBeUndefined();
    const file = readFile(dir);
    expect(file).toEqual({ current: 1, keys: [{ version: 1, secret: expect.any(String), createdAt: T0 }] });
  });

  it('reopens with the same key and leaves the file alone', () => {
    const dir = newDir();
    const first = CallbackKeyStore.open(dir, { now: () => T0 }).current();
    const before = readFileSync(keyFile(dir), 'utf8');
    const again = CallbackKeyStore.open(dir, { now: () => T0 + DAY }).current();
    expect(again.version).toBe(1);
    expect(again.secret.equals(first.secret)).toBe(true);
    expect(readFileSync(keyFile(dir), 'utf8')).toBe(before);
  });

  it('rotates a stale current key at open and keeps the old one verifying', () => {
    const dir = newDir();
    const old = CallbackKeyStore.open(dir, { now: () => T0 }).current();
    const store = CallbackKeyStore.open(dir, { now: () => T0 + 30 * DAY });
    expect(store.current().version).toBe(2);
    expect(store.current().secret.equals(old.secret)).toBe(false);
    expect(store.get(1)?.equals(old.secret)).toBe(true);
    expect(readFile(dir).current).toBe(2);
    expect(statSync(keyFile(dir)).mode & 0o777).toBe(0o600);
  });

  it('tells how old the current key is, and rotate() starts it over (a long-running daemon rotates by it)', () => {
    const c = clock();
    const store = CallbackKeyStore.open(newDir(), { now: c.now });
    c.t += 31 * DAY;
    expect(store.currentKeyAgeMs()).toBe(31 * DAY);
    const old = store.current();
    expect(store.rotate()).toBe(2);
    expect(store.currentKeyAgeMs()).toBe(0);
    expect(store.get(old.version)?.equals(old.secret)).toBe(true);
  });

  it('drops a retired key once its successor is older than the retirement window', () => {
    const dir = newDir();
    const c = clock();
    const store = CallbackKeyStore.open(dir, { now: c.now });
    expect(store.rotate()).toBe(2);
    expect(readFile(dir).keys.map((k) => k.version)).toEqual([1, 2]);

    c.t = T0 + 30 * DAY;
    expect(store.get(1)).toBeDefined();
    // Already unusable in a running store, without waiting for the next open...
    c.t = T0 + 30 * DAY + 1;
    expect(store.get(1)).toBeUndefined();
    expect(store.get(2)).toBeDefined();
    // ...and gone from the file at the next open.
    const reopened = CallbackKeyStore.open(dir, { now: c.now, rotateAfterMs: 60 * DAY });
    expect(reopened.get(1)).toBeUndefined();
    expect(readFile(dir).keys.map((k) => k.version)).toEqual([2]);
  });

  it('measures retirement from the successor, not from the retired key', () => {
    const dir = newDir();
    const c = clock();
    const store = CallbackKeyStore.open(dir, { now: c.now, rotateAfterMs: 100 * DAY });
    c.t = T0 + 90 * DAY;
    store.rotate();
    c.t = T0 + 100 * DAY;
    expect(store.get(1)).toBeDefined();
  });

  it('honours custom windows', () => {
    const dir = newDir();
    const c = clock();
    CallbackKeyStore.open(dir, { now: c.now });
    c.t = T0 + 1_000;
    const store = CallbackKeyStore.open(dir, { now: c.now, rotateAfterMs: 1_000, keepRetiredMs: 10 });
    expect(store.current().version).toBe(2);
    c.t = T0 + 1_011;
    expect(store.get(1)).toBeUndefined();
  });

  it.each([0o644, 0o640, 0o604, 0o620, 0o602])('refuses a key file with mode %o', (mode) => {
    const dir = newDir();
    CallbackKeyStore.open(dir, { now: () => T0 });
    chmodSync(keyFile(dir), mode);
    expect(() => CallbackKeyStore.open(dir, { now: () => T0 })).toThrow(LarkcodeError);
    expect(() => CallbackKeyStore.open(dir, { now: () => T0 })).toThrow(/chmod 600/);
  });

  it('refuses corrupt JSON, naming the file', () => {
    const dir = newDir();
    writeFileSync(keyFile(dir), '{"current": 1, "keys": [', { mode: 0o600 });
    expect(() => CallbackKeyStore.open(dir)).toThrow(/callback-keys\.json is not valid JSON/);
  });

  it.each([
    ['not an object', []],
    ['no keys', { current: 1, keys: [] }],
    ['short secret', { current: 1, keys: [{ version: 1, secret: 'AAAA', createdAt: T0 }] }],
    ['secret not base64', { current: 1, keys: [{ version: 1, secret: '!'.repeat(44), createdAt: T0 }] }],
    ['current missing', { current: 2, keys: [{ version: 1, secret: 'A'.repeat(43) + '=', createdAt: T0 }] }],
    [
      'duplicate versions',
      {
        current: 1,
        keys: [
          { version: 1, secret: 'A'.repeat(43) + '=', createdAt: T0 },
          { version: 1, secret: 'B'.repeat(43) + '=', createdAt: T0 },
        ],
      },
    ],
    [
      'unknown field',
      { current: 1, keys: [{ version: 1, secret: 'A'.repeat(43) + '=', createdAt: T0 }], x: 1 },
    ],
  ])('refuses a file with %s', (_name, content) => {
    const dir = newDir();
    writeFileSync(keyFile(dir), JSON.stringify(content), { mode: 0o600 });
    expect(() => CallbackKeyStore.open(dir)).toThrow(/callback-keys\.json is corrupt/);
  });

  it('accepts a well-formed hand-written file', () => {
    const dir = newDir();
    const secret = Buffer.alloc(32, 7).toString('base64');
    writeFileSync(
      keyFile(dir),
      JSON.stringify({ current: 3, keys: [{ version: 3, secret, createdAt: T0 }] }),
      {
        mode: 0o600,
      },
    );
    const store = CallbackKeyStore.open(dir, { now: () => T0 });
    expect(store.current()).toEqual({ version: 3, secret: Buffer.alloc(32, 7) });
  });

  it('writes 0600 even over a leftover temp file with a looser mode', () => {
    const dir = newDir();
    writeFileSync(`${keyFile(dir)}.tmp`, 'junk', { mode: 0o644 });
    chmodSync(`${keyFile(dir)}.tmp`, 0o644);
    CallbackKeyStore.open(dir, { now: () => T0 });
    expect(statSync(keyFile(dir)).mode & 0o777).toBe(0o600);
    expect(existsSync(`${keyFile(dir)}.tmp`)).toBe(false);
  });
});
