import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { LarkcodeError } from '../core/errors.js';
import { readPrivateFileSync } from '../security/private-file.js';
import { isErrno, writeFileAtomicSync } from '../store/atomic-file.js';

/** Entry names: safe in a `keystore:name` reference, a file listing and a shell, with no case clashes. */
export const KEYSTORE_NAME = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

const STORE_FILE = 'keystore.json';
const KEY_FILE = 'keystore.key';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const SALT_BYTES = 16;
/** ~100 ms and 32 MiB per derivation: once per start, but costly for whoever guesses passphrases. */
const SCRYPT_PARAMS = { N: 2 ** 15, r: 8, p: 1 } as const;
/** A known plaintext sealed at creation, so a wrong passphrase is caught at open even with no entries. */
const CHECK_PLAINTEXT = 'larkcode keystore';
const CHECK_AAD = 'larkcode keystore v1 check';
/**
 * Each entry's name is authenticated with it (GCM associated data): someone who can edit the file
 * cannot move the ciphertext of `openai-key` under the name `feishu-secret` unnoticed.
 */
const entryAad = (name: string) => `larkcode keystore v1 entry ${name}`;

const base64Bytes = (bytes: number) =>
  z.base64().refine((s) => Buffer.from(s, 'base64').length === bytes, { message: `must be ${bytes} bytes` });

const sealedSchema = z.strictObject({
  iv: base64Bytes(IV_BYTES),
  tag: base64Bytes(TAG_BYTES),
  data: z.base64(),
});

const kdfSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('keyfile') }),
  z.strictObject({
    type: z.literal('scrypt'),
    salt: base64Bytes(SALT_BYTES),
    // Stored so the cost can be raised later without breaking old files; bounded so a hand-edited
    // file cannot make open() allocate gigabytes.
    N: z
      .number()
      .int()
      .min(2 ** 14)
      .max(2 ** 20)
      .refine((n) => (n & (n - 1)) === 0, { message: 'must be a power of two' }),
    r: z.number().int().min(1).max(32),
    p: z.number().int().min(1).max(16),
  }),
]);

const storeFileSchema = z.strictObject({
  version: z.literal(1),
  kdf: kdfSchema,
  check: sealedSchema,
  entries: z.record(z.string().regex(KEYSTORE_NAME), sealedSchema),
});

type Sealed = z.infer<typeof sealedSchema>;
type Kdf = z.infer<typeof kdfSchema>;
type StoreFile = z.infer<typeof storeFileSchema>;

export interface KeystoreOptions {
  /**
   * Derive the key from this (scrypt). Without it, a random key in `<stateDir>/keystore.key`.
   * Must match how the keystore was created.
   */
  passphrase?: string;
}

/**
 * Secrets at rest in `<stateDir>/keystore.json` (0600): each entry sealed with AES-256-GCM under a
 * fresh 12-byte IV, so config.json can say `keystore:openai-key` instead of holding the key.
 *
 * The key comes from one of two places, chosen when the keystore is created:
 * - a **passphrase** (scrypt N=2^15, r=8, p=1, 16-byte salt in the file): the file is safe on its
 *   own — in a backup, a synced folder, another user's hands — but someone has to supply the
 *   passphrase at every start;
 * - a random 32-byte **key file** `<stateDir>/keystore.key` (0600): unattended starts, but the
 *   protection is narrower — it keeps the secrets from someone who gets keystore.json alone (a copied
 *   file, a careless backup of config + keystore), *not* from anyone who can read the state
 *   directory, since the key lies next to the file. It is still better than plain text in
 *   config.json, which gets pasted into chats and issues.
 *
 * Open verifies the key against a sealed check value; entries are decrypted on `get`, so one
 * damaged entry can still be deleted and the others read.
 *
 * Single writer: one process changes a keystore at a time (the daemon, or the CLI while it is
 * stopped); a running daemon does not see changes made by another process until it reopens.
 */
export class Keystore {
  readonly path: string;
  readonly #key: Buffer;
  readonly #kdf: Kdf;
  readonly #check: Sealed;
  #entries: ReadonlyMap<string, Sealed>;

  private constructor(path: string, key: Buffer, file: StoreFile) {
    this.path = path;
    this.#key = key;
    this.#kdf = file.kdf;
    this.#check = file.check;
    this.#entries = new Map(Object.entries(file.entries));
  }

  static open(stateDir: string, options: KeystoreOptions = {}): Keystore {
    const { passphrase } = options;
    if (passphrase === '') throw new LarkcodeError('config', 'the keystore passphrase must not be empty');
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const path = join(stateDir, STORE_FILE);
    const keyPath = join(stateDir, KEY_FILE);

    const text = readPrivateFileSync(path);
    if (text === undefined) {
      let kdf: Kdf;
      let key: Buffer;
      if (passphrase === undefined) {
        kdf = { type: 'keyfile' };
        // An existing key file is kept: keystore.json may be gone while the key is fine.
        key = readKeyFile(keyPath) ?? createKeyFile(keyPath);
      } else {
        kdf = { type: 'scrypt', salt: randomBytes(SALT_BYTES).toString('base64'), ...SCRYPT_PARAMS };
        key = deriveKey(passphrase, kdf);
      }
      const store = new Keystore(path, key, {
        version: 1,
        kdf,
        check: seal(key, CHECK_AAD, CHECK_PLAINTEXT),
        entries: {},
      });
      store.#save(store.#entries);
      return store;
    }

    const file = parseStoreFile(path, text);
    let key: Buffer;
    if (file.kdf.type === 'scrypt') {
      if (passphrase === undefined) {
        throw new LarkcodeError('config', `${path} is protected by a passphrase; none was given`);
      }
      key = deriveKey(passphrase, file.kdf);
    } else {
      if (passphrase !== undefined) {
        throw new LarkcodeError(
          'config',
          `${path} is encrypted with the key file ${keyPath}, not a passphrase; open it without one`,
        );
      }
      const found = readKeyFile(keyPath);
      if (found === undefined) {
        throw new LarkcodeError(
          'config',
          `${keyPath} is missing, so the entries in ${path} cannot be decrypted; ` +
            `restore the key file, or delete ${path} and add the secrets again`,
        );
      }
      key = found;
    }
    if (unseal(key, CHECK_AAD, file.check) !== CHECK_PLAINTEXT) throw undecryptable(path);
    return new Keystore(path, key, file);
  }

  /** The entry's value, or undefined when there is none. Throws if the entry does not decrypt. */
  get(name: string): string | undefined {
    checkName(name);
    const sealed = this.#entries.get(name);
    if (sealed === undefined) return undefined;
    const value = unseal(this.#key, entryAad(name), sealed);
    if (value === undefined) throw undecryptable(this.path, name);
    return value;
  }

  /** Add or replace an entry; written to disk (atomically, durably) before this returns. */
  set(name: string, value: string): void {
    checkName(name);
    if (value === '')
      throw new LarkcodeError('config', `keystore entry ${name}: the value must not be empty`);
    const next = new Map(this.#entries);
    next.set(name, seal(this.#key, entryAad(name), value));
    this.#save(next);
  }

  /** Remove an entry; false when there was none. */
  delete(name: string): boolean {
    checkName(name);
    if (!this.#entries.has(name)) return false;
    const next = new Map(this.#entries);
    next.delete(name);
    this.#save(next);
    return true;
  }

  /** Entry names, sorted. */
  names(): string[] {
    return [...this.#entries.keys()].sort();
  }

  /** Memory is updated only once the file is: a failed write leaves both as they were. */
  #save(entries: ReadonlyMap<string, Sealed>): void {
    const sorted = [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const file: StoreFile = {
      version: 1,
      kdf: this.#kdf,
      check: this.#check,
      entries: Object.fromEntries(sorted),
    };
    writePrivateFile(this.path, `${JSON.stringify(file, null, 2)}\n`);
    this.#entries = entries;
  }
}

function checkName(name: string): void {
  if (!KEYSTORE_NAME.test(name)) {
    throw new LarkcodeError(
      'config',
      `invalid keystore entry name ${JSON.stringify(name.slice(0, 80))}: ` +
        'use lowercase letters, digits, _ . - (starting with a letter or digit, at most 64)',
    );
  }
}

function undecryptable(path: string, entry?: string): LarkcodeError {
  const which = entry === undefined ? '' : ` (entry ${entry})`;
  return new LarkcodeError(
    'config',
    `${path} could not be decrypted: wrong passphrase or a damaged file${which}`,
  );
}

function deriveKey(passphrase: string, kdf: Extract<Kdf, { type: 'scrypt' }>): Buffer {
  // NFC: the same passphrase typed on another keyboard or OS may arrive in another normal form.
  return scryptSync(passphrase.normalize('NFC'), Buffer.from(kdf.salt, 'base64'), KEY_BYTES, {
    N: kdf.N,
    r: kdf.r,
    p: kdf.p,
    // Node's default cap (32 MiB) is exactly what N=2^15, r=8 needs and is refused; allow headroom.
    maxmem: 256 * kdf.N * kdf.r * kdf.p,
  });
}

function seal(key: Buffer, aad: string, plaintext: string): Sealed {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return {
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    data: data.toString('base64'),
  };
}

/** The plaintext, or undefined when the key is wrong or anything sealed was altered. */
function unseal(key: Buffer, aad: string, sealed: Sealed): string | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'), {
      authTagLength: TAG_BYTES,
    });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    const plain = Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]);
    return plain.toString('utf8');
  } catch {
    return undefined;
  }
}

function parseStoreFile(path: string, text: string): StoreFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new LarkcodeError('config', `${path} is not valid JSON (${(error as Error).message})`);
  }
  const parsed = storeFileSchema.safeParse(json);
  if (!parsed.success) {
    throw new LarkcodeError('config', `${path} is corrupt:\n${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

function readKeyFile(path: string): Buffer | undefined {
  const text = readPrivateFileSync(path);
  if (text === undefined) return undefined;
  const encoded = text.trim();
  const key = Buffer.from(encoded, 'base64');
  // Round trip: Buffer.from skips characters that are not base64 instead of failing.
  if (key.length !== KEY_BYTES || key.toString('base64') !== encoded) {
    throw new LarkcodeError('config', `${path} is not a keystore key (${KEY_BYTES} bytes, base64)`);
  }
  return key;
}

function createKeyFile(path: string): Buffer {
  const key = randomBytes(KEY_BYTES);
  writePrivateFile(path, `${key.toString('base64')}\n`);
  return key;
}

/** Atomic, durable, 0600. */
function writePrivateFile(path: string, text: string): void {
  // A leftover temp file from a kill keeps its old mode when reopened; start from a fresh 0600 one.
  try {
    unlinkSync(`${path}.tmp`);
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw error;
  }
  writeFileAtomicSync(path, text, { mode: 0o600 });
  // The umask can only remove bits, but be explicit.
  chmodSync(path, 0o600);
}
