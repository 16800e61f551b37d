import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { LarkcodeError } from '../core/errors.js';
import { isErrno, writeFileAtomicSync } from '../store/atomic-file.js';
import { readPrivateFileSync } from './private-file.js';

const KEY_FILE = 'callback-keys.json';
const SECRET_BYTES = 32;
const DAY_MS = 24 * 60 * 60 * 1000;
/** A leaked key stops being useful for new tokens within this long. */
export const DEFAULT_ROTATE_AFTER_MS = 30 * DAY_MS;
/** Cards stay clickable on Feishu for 30 days, so a retired key is kept that long for their tokens. */
export const DEFAULT_KEEP_RETIRED_MS = 30 * DAY_MS;

const keyFileSchema = z
  .strictObject({
    current: z.number().int().positive(),
    keys: z
      .array(
        z.strictObject({
          version: z.number().int().positive(),
          secret: z.base64().refine((s) => Buffer.from(s, 'base64').length === SECRET_BYTES, {
            message: `must be ${SECRET_BYTES} bytes`,
          }),
          createdAt: z.number().int().nonnegative(),
        }),
      )
      .min(1),
  })
  .superRefine((file, ctx) => {
    const versions = file.keys.map((k) => k.version);
    if (new Set(versions).size !== versions.length)
      ctx.addIssue({ code: 'custom', path: ['keys'], message: 'duplicate key versions' });
    // rotate() always adds the highest version; anything else means the file was edited by hand.
    if (file.current !== Math.max(...versions))
      ctx.addIssue({ code: 'custom', path: ['current'], message: 'must be the highest key version' });
  });

type KeyFile = z.infer<typeof keyFileSchema>;
type KeyEntry = KeyFile['keys'][number];

export interface CallbackKeyStoreOptions {
  now?: () => number;
  /** The current key is replaced at open once it is this old. */
  rotateAfterMs?: number;
  /** A replaced key still verifies for this long after its successor was created. */
  keepRetiredMs?: number;
}

/** What signing and verifying callback tokens need; a narrow view so tests can fake it. */
export interface CallbackKeys {
  current(): { version: number; secret: Buffer };
  get(version: number): Buffer | undefined;
}

/**
 * HMAC keys for card callback tokens, in `<stateDir>/callback-keys.json` (mode 0600).
 *
 * Versioned so a key can be rotated without breaking buttons on cards already sent: tokens carry
 * the version they were signed with, and a retired key keeps verifying for `keepRetiredMs`.
 * Rotation and retirement happen at `open` (the daemon restarts often enough) and on `rotate()`;
 * `get` also refuses a key past its retirement window, so a long uptime never extends it.
 *
 * Single writer: one store per state directory.
 */
export class CallbackKeyStore implements CallbackKeys {
  readonly #path: string;
  readonly #now: () => number;
  readonly #keepRetiredMs: number;
  #file: KeyFile;

  private constructor(path: string, file: KeyFile, now: () => number, keepRetiredMs: number) {
    this.#path = path;
    this.#file = file;
    this.#now = now;
    this.#keepRetiredMs = keepRetiredMs;
  }

  static open(stateDir: string, options: CallbackKeyStoreOptions = {}): CallbackKeyStore {
    const now = options.now ?? Date.now;
    const rotateAfterMs = options.rotateAfterMs ?? DEFAULT_ROTATE_AFTER_MS;
    const keepRetiredMs = options.keepRetiredMs ?? DEFAULT_KEEP_RETIRED_MS;
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const path = join(stateDir, KEY_FILE);

    const found = readKeyFile(path);
    const file = found ?? { current: 1, keys: [newKey(1, now())] };
    const store = new CallbackKeyStore(path, file, now, keepRetiredMs);
    let dirty = found === undefined;
    if (now() - store.#entry(file.current).createdAt >= rotateAfterMs) {
      store.#addKey();
      dirty = true;
    }
    const live = file.keys.filter((key) => !store.#expired(key));
    if (live.length !== file.keys.length) {
      file.keys = live;
      dirty = true;
    }
    if (dirty) store.#save();
    return store;
  }

  current(): { version: number; secret: Buffer } {
    const { version, secret } = this.#entry(this.#file.current);
    return { version, secret: Buffer.from(secret, 'base64') };
  }

  get(version: number): Buffer | undefined {
    const key = this.#file.keys.find((k) => k.version === version);
    if (key === undefined || this.#expired(key)) return undefined;
    return Buffer.from(key.secret, 'base64');
  }

  /** How long the current key has been in use (a long-running daemon rotates by this). */
  currentKeyAgeMs(): number {
    return this.#now() - this.#entry(this.#file.current).createdAt;
  }

  /** Make a fresh key current (the old one is kept for its retirement window); returns its version. */
  rotate(): number {
    const version = this.#addKey();
    this.#save();
    return version;
  }

  #addKey(): number {
    const version = this.#file.current + 1;
    this.#file.keys.push(newKey(version, this.#now()));
    this.#file.current = version;
    return version;
  }

  /**
   * A non-current key retired when its successor was created; past the window it is dead. The
   * successor's `createdAt`, not the key's own, so a key that was current for a long time still
   * gets the full window for the cards it signed last.
   */
  #expired(key: KeyEntry): boolean {
    if (key.version === this.#file.current) return false;
    const successor = this.#file.keys
      .filter((k) => k.version > key.version)
      .reduce((a, b) => (b.version < a.version ? b : a));
    return this.#now() - successor.createdAt > this.#keepRetiredMs;
  }

  #entry(version: number): KeyEntry {
    const key = this.#file.keys.find((k) => k.version === version);
    if (key === undefined) throw new LarkcodeError('internal', `callback key ${version} is missing`);
    return key;
  }

  #save(): void {
    // A leftover temp file from a kill keeps its old mode when reopened; start from a fresh 0600 one.
    try {
      unlinkSync(`${this.#path}.tmp`);
    } catch (error) {
      if (!isErrno(error, 'ENOENT')) throw error;
    }
    writeFileAtomicSync(this.#path, `${JSON.stringify(this.#file, null, 2)}\n`, { mode: 0o600 });
    // The umask can only remove bits, but be explicit: a key readable by others forges any button.
    chmodSync(this.#path, 0o600);
  }
}

function newKey(version: number, createdAt: number): KeyEntry {
  return { version, secret: randomBytes(SECRET_BYTES).toString('base64'), createdAt };
}

/** The parsed key file, or `undefined` when there is none. Mode is checked on the opened fd (no race). */
function readKeyFile(path: string): KeyFile | undefined {
  const text = readPrivateFileSync(path, { risk: 'anyone who can read it can forge card buttons' });
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new LarkcodeError(
      'config',
      `callback key file ${path} is not valid JSON (${(error as Error).message}); ` +
        `delete it to start over (buttons on cards already sent will stop working)`,
      { cause: error },
    );
  }
  const parsed = keyFileSchema.safeParse(json);
  if (!parsed.success) {
    throw new LarkcodeError(
      'config',
      `callback key file ${path} is corrupt:\n${z.prettifyError(parsed.error)}\n` +
        `delete it to start over (buttons on cards already sent will stop working)`,
    );
  }
  return parsed.data;
}
