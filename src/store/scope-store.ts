import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { TokenUsage } from '../agents/types.js';
import type { MessageInput } from '../core/bridge-input.js';
import { fsyncDirSync, isErrno, readJsonSync, writeFileAtomicSync } from './atomic-file.js';
import { DeferredSync } from './deferred-sync.js';

export interface ScopeSettingsOverrides {
  idleTimeoutSec?: number;
  debounceMs?: number;
  /** Set by /cd, /ws use, /switch; absent: the profile's workspace. */
  workspace?: string;
  /** Codex sandbox chosen for this chat; absent: the profile's default access. */
  sandbox?: 'read-only' | 'workspace-write' | 'danger-full-access';
}

export interface InflightRun {
  runId: string;
  inputs: MessageInput[];
  startedAt?: number;
  cardMessageId?: string;
  /** The CardKit entity behind that message, and when it was made (sequence numbers derive from it). */
  cardId?: string;
  cardCreatedAt?: number;
}

export interface ScopeRecord {
  scopeId: string;
  sessionId?: string;
  /** The policy fingerprint the session was recorded under: a different policy never resumes it. */
  sessionFingerprint?: string;
  settings: ScopeSettingsOverrides;
  /** Accepted messages not yet given to a run, arrival order. */
  pendingInputs: MessageInput[];
  /** The run that was in flight; present ⇒ after a crash it must be reported interrupted, never re-run. */
  inflight?: InflightRun;
  /** Token totals of the session after its last turn (Codex counts per thread, cards show per turn). */
  lastUsage?: { sessionId: string; usage: TokenUsage };
  updatedAt: number;
}

export interface ScopeStoreOptions {
  /** Records kept parsed in memory (LRU); the rest are re-read from disk on demand. */
  cacheSize?: number;
  /** Clock for `updatedAt` stamps in `update()`. */
  now?: () => number;
  /**
   * 'deferred' (default): writes are atomic at once (safe against kill -9) and fsynced in
   * groups a few ms later, off the event loop (see DeferredSync). 'immediate': fsync before
   * returning — a power loss loses nothing acknowledged, at ~5–10 ms per write.
   */
  durability?: 'deferred' | 'immediate';
}

export const DEFAULT_SCOPE_CACHE_SIZE = 5_000;

const MARKER_NAME = /^[0-9a-f]{32}$/;

/** `sha256(scopeId)` as hex, first 32 characters: the file name stem of a scope. */
export function scopeFileStem(scopeId: string): string {
  return createHash('sha256').update(scopeId).digest('hex').slice(0, 32);
}

/** A scope needs restoring after a restart when it holds accepted work or a run was in flight. */
export function isActiveScope(record: ScopeRecord): boolean {
  return record.pendingInputs.length > 0 || record.inflight !== undefined;
}

/**
 * Durable per-scope facts: one JSON file per scope, so a write costs the same with 10 or
 * 100,000 scopes, and an empty marker file per *active* scope, so a boot restores the active
 * ones without reading the idle ones.
 *
 * Layout under `stateDir`:
 * - `scopes/<stem>.json` — the record, replaced atomically (temp + fsync + rename + dir fsync);
 * - `scopes-active/<stem>` — empty marker; exists for every record with pending inputs or an
 *   in-flight run (and, briefly or after a crash, possibly for an inactive one).
 *
 * Crash-safety invariant: **every active record on disk has a marker** (markers ⊇ active records).
 * Hence the orderings:
 * - becoming active: marker first (dir fsynced), then the record. A crash in between leaves a
 *   marker whose record is inactive or missing — `listActive` skips and removes it. (The other
 *   order could leave an active record without a marker, i.e. accepted messages a boot never sees.)
 * - becoming inactive: record first, then remove the marker. A crash in between leaves a stale
 *   marker — tolerated the same way. The removal is not fsynced for the same reason.
 * - `delete`: record first, then the marker.
 *
 * A record file that does not parse (it should not happen, thanks to rename) is renamed aside to
 * `<stem>.json.corrupt` and treated as missing, so nothing is silently destroyed.
 *
 * Single writer: one `ScopeStore` per state directory (the daemon's). All methods are synchronous.
 */
export class ScopeStore {
  readonly #scopesDir: string;
  readonly #activeDir: string;
  readonly #cacheSize: number;
  readonly #now: () => number;
  readonly #deferred: DeferredSync | undefined;
  /** scopeId → the record's serialized text as on disk, or null when there is no record. LRU order. */
  readonly #cache = new Map<string, string | null>();
  /** Stems with a marker file, as far as this process knows. Bounded by the active scopes. */
  readonly #markers = new Set<string>();

  constructor(stateDir: string, options: ScopeStoreOptions = {}) {
    this.#scopesDir = join(stateDir, 'scopes');
    this.#activeDir = join(stateDir, 'scopes-active');
    this.#cacheSize = Math.max(1, options.cacheSize ?? DEFAULT_SCOPE_CACHE_SIZE);
    this.#now = options.now ?? Date.now;
    this.#deferred = options.durability === 'immediate' ? undefined : new DeferredSync();
    mkdirSync(this.#scopesDir, { recursive: true, mode: 0o700 });
    mkdirSync(this.#activeDir, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(this.#activeDir)) {
      if (MARKER_NAME.test(name)) this.#markers.add(name);
    }
  }

  /** The stored record (a fresh object: callers may mutate it), or undefined if none. */
  get(scopeId: string): ScopeRecord | undefined {
    const text = this.#load(scopeId);
    return text === null ? undefined : (JSON.parse(text) as ScopeRecord);
  }

  /** Durably store the record (returns after it is on disk); a no-op when nothing changed. */
  put(record: ScopeRecord): void {
    assertRecord(record);
    const { scopeId } = record;
    const stem = scopeFileStem(scopeId);
    const text = serialize(record);
    const active = isActiveScope(record);
    const unchanged = this.#load(scopeId) === text;
    if (active && !this.#markers.has(stem)) this.#createMarker(stem);
    if (unchanged) return;
    const path = this.#recordPath(stem);
    writeFileAtomicSync(path, text, { sync: !this.#deferred });
    if (this.#deferred) {
      this.#deferred.schedule(path);
      this.#deferred.schedule(this.#scopesDir);
    }
    this.#remember(scopeId, text);
    if (!active && this.#markers.has(stem)) this.#removeMarker(stem);
  }

  /**
   * Get-or-empty, apply `change`, put. `change` may mutate its argument. When the result differs
   * from the current record and `change` left `updatedAt` alone, it is stamped with the clock.
   * A change that alters nothing writes nothing (an untouched empty record is not persisted).
   */
  update(scopeId: string, change: (current: ScopeRecord) => ScopeRecord): ScopeRecord {
    const current = this.get(scopeId) ?? emptyRecord(scopeId);
    const before = serialize(current);
    const beforeUpdatedAt = current.updatedAt;
    let next = change(current);
    if (next.scopeId !== scopeId) {
      throw new Error(`ScopeStore.update: change() returned a record for ${next.scopeId}, not ${scopeId}`);
    }
    if (serialize({ ...next, updatedAt: beforeUpdatedAt }) === before) return next;
    if (next.updatedAt === beforeUpdatedAt) next = { ...next, updatedAt: this.#now() };
    this.put(next);
    return next;
  }

  /**
   * Every active record (pending inputs or an in-flight run), oldest `updatedAt` first. Reads only
   * `scopes-active/` and the records it names, so the cost does not depend on idle scopes. Stale
   * markers (record inactive, missing, corrupt) are removed on the way.
   */
  listActive(): ScopeRecord[] {
    const found: ScopeRecord[] = [];
    this.#markers.clear();
    for (const stem of readdirSync(this.#activeDir)) {
      if (!MARKER_NAME.test(stem)) continue;
      const record = this.#readFile(stem);
      if (record === undefined || !isActiveScope(record)) {
        unlinkQuiet(join(this.#activeDir, stem));
        continue;
      }
      this.#markers.add(stem);
      this.#remember(record.scopeId, serialize(record));
      found.push(record);
    }
    return found.sort((a, b) => a.updatedAt - b.updatedAt || (a.scopeId < b.scopeId ? -1 : 1));
  }

  /** Forget the scope entirely (record, then marker). */
  /** Resolves once every write so far is on disk (call before exiting). */
  flush(): Promise<void> {
    return this.#deferred?.flush() ?? Promise.resolve();
  }

  delete(scopeId: string): void {
    const stem = scopeFileStem(scopeId);
    const path = this.#recordPath(stem);
    let removed = true;
    try {
      unlinkSync(path);
    } catch (error) {
      if (!isErrno(error, 'ENOENT')) throw error;
      removed = false;
    }
    if (removed) fsyncDirSync(this.#scopesDir);
    unlinkQuiet(`${path}.tmp`);
    this.#remember(scopeId, null);
    if (this.#markers.has(stem) || existsSync(join(this.#activeDir, stem))) this.#removeMarker(stem);
  }

  #recordPath(stem: string): string {
    return join(this.#scopesDir, `${stem}.json`);
  }

  /** Serialized record from the cache, else from disk (then cached); null when there is none. */
  #load(scopeId: string): string | null {
    const cached = this.#cache.get(scopeId);
    if (cached !== undefined) {
      this.#remember(scopeId, cached);
      return cached;
    }
    const stem = scopeFileStem(scopeId);
    let record = this.#readFile(stem);
    if (record !== undefined && record.scopeId !== scopeId) {
      // Not ours (cannot happen short of a 128-bit collision or a hand-edited file): keep it aside.
      quarantine(this.#recordPath(stem));
      record = undefined;
    }
    const text = record === undefined ? null : serialize(record);
    this.#remember(scopeId, text);
    return text;
  }

  /** The record in `scopes/<stem>.json`; undefined when missing, or corrupt (then renamed aside). */
  #readFile(stem: string): ScopeRecord | undefined {
    const path = this.#recordPath(stem);
    let value: unknown;
    try {
      value = readJsonSync<unknown>(path);
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
      quarantine(path);
      return undefined;
    }
    if (value === undefined) return undefined;
    if (!isRecordShape(value) || scopeFileStem(value.scopeId) !== stem) {
      quarantine(path);
      return undefined;
    }
    return value;
  }

  #remember(scopeId: string, text: string | null): void {
    this.#cache.delete(scopeId);
    this.#cache.set(scopeId, text);
    if (this.#cache.size > this.#cacheSize) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
  }

  #createMarker(stem: string): void {
    closeSync(openSync(join(this.#activeDir, stem), 'w', 0o600));
    // Must be durable before the record can say "active" (deferred: same flush, dir first).
    if (this.#deferred) this.#deferred.schedule(this.#activeDir);
    else fsyncDirSync(this.#activeDir);
    this.#markers.add(stem);
  }

  #removeMarker(stem: string): void {
    unlinkQuiet(join(this.#activeDir, stem)); // not fsynced: a stale marker is tolerated
    this.#markers.delete(stem);
  }
}

function emptyRecord(scopeId: string): ScopeRecord {
  return { scopeId, settings: {}, pendingInputs: [], updatedAt: 0 };
}

/** Canonical text: fixed top-level key order, so equal records compare equal as strings. */
function serialize(record: ScopeRecord): string {
  return JSON.stringify({
    scopeId: record.scopeId,
    sessionId: record.sessionId,
    sessionFingerprint: record.sessionFingerprint,
    settings: record.settings,
    pendingInputs: record.pendingInputs,
    inflight: record.inflight,
    lastUsage: record.lastUsage,
    updatedAt: record.updatedAt,
  });
}

function assertRecord(record: ScopeRecord): void {
  if (!isRecordShape(record) || record.scopeId.length === 0) {
    throw new TypeError('ScopeStore.put: not a ScopeRecord (scopeId, settings, pendingInputs, updatedAt)');
  }
}

function isRecordShape(value: unknown): value is ScopeRecord {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Partial<ScopeRecord>;
  return (
    typeof r.scopeId === 'string' &&
    (r.sessionId === undefined || typeof r.sessionId === 'string') &&
    typeof r.settings === 'object' &&
    r.settings !== null &&
    Array.isArray(r.pendingInputs) &&
    typeof r.updatedAt === 'number' &&
    (r.inflight === undefined ||
      (typeof r.inflight === 'object' &&
        r.inflight !== null &&
        typeof r.inflight.runId === 'string' &&
        Array.isArray(r.inflight.inputs)))
  );
}

/** Rename a bad file aside (`.corrupt`, or `.<ms>.corrupt` if that exists) instead of deleting it. */
function quarantine(path: string): void {
  let target = `${path}.corrupt`;
  if (existsSync(target)) target = `${path}.${Date.now()}.corrupt`;
  try {
    renameSync(path, target);
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw error;
  }
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw error;
  }
}
