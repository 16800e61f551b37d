import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { KEYSTORE_NAME, Keystore } from '../../src/config/keystore.js';
import { LarkcodeError } from '../../src/core/errors.js';

const posix = process.platform !== 'win32';
const SECRET = 'planted-S3cret-value-9f2c';
const DECRYPT_FAILURE = 'keystore.json could not be decrypted: wrong passphrase or a damaged file';
const newDir = () => join(mkdtempSync(join(tmpdir(), 'larkcode-keystore-')), 'state');
const storePath = (dir: string) => join(dir, 'keystore.json');
const keyPath = (dir: string) => join(dir, 'keystore.key');
const mode = (path: string) => statSync(path).mode & 0o777;

interface Sealed {
  iv: string;
  tag: string;
  data: string;
}
interface StoreFileShape {
  version: number;
  kdf: { type: string; salt?: string; N?: number };
  check: Sealed;
  entries: Record<string, Sealed>;
}
const readStore = (dir: string) => JSON.parse(readFileSync(storePath(dir), 'utf8')) as StoreFileShape;
/** Change keystore.json the way someone with write access could (the file keeps its 0600 mode). */
function editStore(dir: string, edit: (file: StoreFileShape) => void): void {
  const file = readStore(dir);
  edit(file);
  writeFileSync(storePath(dir), JSON.stringify(file));
}
const flipFirstBit = (b64: string) => {
  const bytes = Buffer.from(b64, 'base64');
  bytes[0] = (bytes[0] ?? 0) ^ 1;
  return bytes.toString('base64');
};

function thrown(fn: () => unknown): LarkcodeError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(LarkcodeError);
    expect((error as LarkcodeError).kind).toBe('config');
    const seen = [(error as Error).message, String((error as Error).stack), inspect(error, { depth: 10 })];
    // Whatever went wrong, the error never carries a stored value.
    for (const text of seen) expect(text).not.toContain(SECRET);
    return error as LarkcodeError;
  }
  throw new Error('expected a LarkcodeError');
}

describe('Keystore with a key file', () => {
  it('creates 0600 keystore.json and keystore.key and round-trips across a reopen', () => {
    const dir = newDir();
    const store = Keystore.open(dir);
    expect(store.path).toBe(storePath(dir));
    if (posix) {
      expect(mode(storePath(dir))).toBe(0o600);
      expect(mode(keyPath(dir))).toBe(0o600);
    }
    expect(Buffer.from(readFileSync(keyPath(dir), 'utf8').trim(), 'base64').length).toBe(32);
    expect(store.names()).toEqual([]);

    store.set('openai-key', SECRET);
    store.set('feishu.app_secret', 'fs-secret-1');
    expect(store.get('openai-key')).toBe(SECRET);
    expect(existsSync(`${storePath(dir)}.tmp`)).toBe(false);
    if (posix) expect(mode(storePath(dir))).toBe(0o600);

    const again = Keystore.open(dir);
    expect(again.names()).toEqual(['feishu.app_secret', 'openai-key']);
    expect(again.get('openai-key')).toBe(SECRET);
    expect(again.get('feishu.app_secret')).toBe('fs-secret-1');
    expect(again.get('absent')).toBeUndefined();
  });

  it('stores ciphertext only, with a fresh IV per write', () => {
    const dir = newDir();
    const store = Keystore.open(dir);
    store.set('a', SECRET);
    const first = readStore(dir).entries.a!;
    store.set('a', SECRET);
    const second = readStore(dir).entries.a!;
    const text = readFileSync(storePath(dir), 'utf8');
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(Buffer.from(SECRET).toString('base64'));
    expect(second.iv).not.toBe(first.iv);
    expect(second.data).not.toBe(first.data);
    expect(readStore(dir).kdf).toEqual({ type: 'keyfile' });
  });

  it('replaces and deletes entries', () => {
    const dir = newDir();
    const store = Keystore.open(dir);
    store.set('x', 'one-1');
    store.set('x', 'two-2');
    expect(store.get('x')).toBe('two-2');
    expect(store.delete('x')).toBe(true);
    expect(store.delete('x')).toBe(false);
    expect(store.get('x')).toBeUndefined();
    expect(Keystore.open(dir).names()).toEqual([]);
  });

  it('keeps an existing key file when keystore.json is gone', () => {
    const dir = newDir();
    Keystore.open(dir);
    const key = readFileSync(keyPath(dir), 'utf8');
    // An empty file is corrupt, not missing...
    writeFileSync(storePath(dir), '');
    expect(thrown(() => Keystore.open(dir)).message).toContain('not valid JSON');
    // ...a missing one starts over with the same key.
    unlinkSync(storePath(dir));
    Keystore.open(dir).set('a', 'value-a');
    expect(readFileSync(keyPath(dir), 'utf8')).toBe(key);
  });

  it('refuses to open without its key file, or with another key', () => {
    const dir = newDir();
    Keystore.open(dir).set('a', SECRET);
    const key = readFileSync(keyPath(dir), 'utf8');
    unlinkSync(keyPath(dir));
    expect(thrown(() => Keystore.open(dir)).message).toContain('keystore.key is missing');

    writeFileSync(keyPath(dir), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    expect(thrown(() => Keystore.open(dir)).message).toContain(DECRYPT_FAILURE);

    writeFileSync(keyPath(dir), 'not a key\n', { mode: 0o600 });
    expect(thrown(() => Keystore.open(dir)).message).toContain('is not a keystore key');

    writeFileSync(keyPath(dir), key, { mode: 0o600 });
    expect(Keystore.open(dir).get('a')).toBe(SECRET);
  });

  it('refuses a passphrase for a key-file keystore', () => {
    const dir = newDir();
    Keystore.open(dir);
    expect(thrown(() => Keystore.open(dir, { passphrase: 'pw' })).message).toContain('not a passphrase');
  });

  it.runIf(posix)('refuses keystore.json or keystore.key that group or others can access', () => {
    const dir = newDir();
    Keystore.open(dir).set('a', SECRET);
    chmodSync(storePath(dir), 0o644);
    expect(thrown(() => Keystore.open(dir)).message).toContain(`chmod 600 ${storePath(dir)}`);
    chmodSync(storePath(dir), 0o600);
    chmodSync(keyPath(dir), 0o640);
    expect(thrown(() => Keystore.open(dir)).message).toContain(`chmod 600 ${keyPath(dir)}`);
    chmodSync(keyPath(dir), 0o400);
    expect(Keystore.open(dir).get('a')).toBe(SECRET);
  });
});

describe('Keystore with a passphrase', () => {
  it('round-trips, keeps no key file, and refuses a wrong or missing passphrase', () => {
    const dir = newDir();
    const store = Keystore.open(dir, { passphrase: 'correct horse' });
    store.set('openai-key', SECRET);
    expect(existsSync(keyPath(dir))).toBe(false);
    if (posix) expect(mode(storePath(dir))).toBe(0o600);
    const kdf = readStore(dir).kdf;
    expect(kdf).toMatchObject({ type: 'scrypt', N: 2 ** 15, r: 8, p: 1 });
    expect(Buffer.from(kdf.salt!, 'base64').length).toBe(16);

    expect(Keystore.open(dir, { passphrase: 'correct horse' }).get('openai-key')).toBe(SECRET);
    expect(thrown(() => Keystore.open(dir, { passphrase: 'wrong horse' })).message).toContain(
      DECRYPT_FAILURE,
    );
    expect(thrown(() => Keystore.open(dir)).message).toContain('protected by a passphrase');
  });

  it('catches a wrong passphrase even when there are no entries', () => {
    const dir = newDir();
    Keystore.open(dir, { passphrase: 'one' });
    expect(thrown(() => Keystore.open(dir, { passphrase: 'two' })).message).toContain(DECRYPT_FAILURE);
  });

  it('refuses an empty passphrase', () => {
    expect(thrown(() => Keystore.open(newDir(), { passphrase: '' })).message).toContain('must not be empty');
  });
});

describe('Keystore: tampering', () => {
  const withEntry = () => {
    const dir = newDir();
    Keystore.open(dir).set('a', SECRET);
    return dir;
  };

  it.each([
    ['ciphertext', (s: Sealed) => Object.assign(s, { data: flipFirstBit(s.data) })],
    ['auth tag', (s: Sealed) => Object.assign(s, { tag: flipFirstBit(s.tag) })],
    ['IV', (s: Sealed) => Object.assign(s, { iv: flipFirstBit(s.iv) })],
  ])('a changed %s of an entry fails its get, not the others', (_part, tamper) => {
    const dir = withEntry();
    Keystore.open(dir).set('b', 'other-value');
    editStore(dir, (file) => tamper(file.entries.a!));
    const store = Keystore.open(dir);
    expect(thrown(() => store.get('a')).message).toContain(DECRYPT_FAILURE);
    expect(store.get('b')).toBe('other-value');
    // The damaged entry can still be removed.
    expect(store.delete('a')).toBe(true);
    expect(Keystore.open(dir).names()).toEqual(['b']);
  });

  it('a ciphertext moved under another name does not decrypt (the name is authenticated)', () => {
    const dir = withEntry();
    editStore(dir, (file) => {
      file.entries.b = file.entries.a!;
    });
    expect(thrown(() => Keystore.open(dir).get('b')).message).toContain(DECRYPT_FAILURE);
  });

  it('a changed check value fails open', () => {
    const dir = withEntry();
    editStore(dir, (file) => {
      file.check.tag = flipFirstBit(file.check.tag);
    });
    expect(thrown(() => Keystore.open(dir)).message).toContain(DECRYPT_FAILURE);
  });

  it.each([
    ['not JSON', () => '{', 'not valid JSON'],
    ['wrong shape', () => JSON.stringify({ version: 1 }), 'is corrupt'],
    [
      'bad entry name',
      (f: StoreFileShape) => JSON.stringify({ ...f, entries: { BAD: f.check } }),
      'is corrupt',
    ],
    [
      'short IV',
      (f: StoreFileShape) => JSON.stringify({ ...f, check: { ...f.check, iv: 'AAAA' } }),
      'is corrupt',
    ],
    ['unknown key', (f: StoreFileShape) => JSON.stringify({ ...f, extra: 1 }), 'is corrupt'],
    [
      'huge scrypt N',
      (f: StoreFileShape) => JSON.stringify({ ...f, kdf: { ...f.kdf, N: 2 ** 30 } }),
      'is corrupt',
    ],
  ])('refuses a file that is %s', (_name, make, expected) => {
    const dir = newDir();
    Keystore.open(dir, { passphrase: 'pw' }).set('a', SECRET);
    writeFileSync(storePath(dir), make(readStore(dir)));
    expect(thrown(() => Keystore.open(dir, { passphrase: 'pw' })).message).toContain(expected);
  });
});

describe('Keystore entry names', () => {
  const valid = ['a', '0', 'openai-key', 'app-cli_a1b2.secret', 'x'.repeat(64)];
  const invalid = ['', 'A', 'Upper', '-a', '.a', '_a', '__proto__', 'a/b', 'a b', 'é', 'x'.repeat(65), 'a\n'];

  it('matches the documented pattern', () => {
    for (const name of valid) expect(KEYSTORE_NAME.test(name)).toBe(true);
    for (const name of invalid) expect(KEYSTORE_NAME.test(name)).toBe(false);
  });

  it('set, get and delete refuse invalid names; valid ones round-trip', () => {
    const store = Keystore.open(newDir());
    for (const name of valid) {
      store.set(name, `value of ${name}`);
      expect(store.get(name)).toBe(`value of ${name}`);
    }
    for (const name of invalid) {
      expect(thrown(() => store.set(name, 'v')).message).toContain('invalid keystore entry name');
      expect(thrown(() => store.get(name)).message).toContain('invalid keystore entry name');
      expect(thrown(() => store.delete(name)).message).toContain('invalid keystore entry name');
    }
    expect(store.names()).toEqual([...valid].sort());
  });

  it('refuses an empty value', () => {
    expect(thrown(() => Keystore.open(newDir()).set('a', '')).message).toContain('must not be empty');
  });
});
