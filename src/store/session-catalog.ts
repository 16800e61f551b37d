import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { LarkcodeError } from '../core/errors.js';
import { fsyncDirSync } from './atomic-file.js';
import { quarantineFile, readStateFile, writeStateFile } from './json-state-file.js';
import { scopeFileStem } from './scope-store.js';

/** The one-file catalog of earlier versions; split into per-scope files by `open`. */
const LEGACY_FILE = 'sessions.json';
/** `<stateDir>/sessions/`: one file per scope. */
export const SESSIONS_DIR = 'sessions';
const SCOPE_FILE_NAME = /^[0-9a-f]{32}\.json$/;
/** Scopes kept parsed in memory (LRU); the rest are read from their file on first use. */
export const DEFAULT_SESSION_CACHE_SIZE = 500;
/**
 * `record()` of a known thread that only moves its `lastUsedAt`, by less than this past what its
 * file says, is not written (see `record`): a kill loses at most this much of "last used".
 */
export const LAST_USED_WRITE_SLACK_MS = 60_000;
/** Per scope; a chat that starts a new thread every day still shows ~2 months of them. */
export const MAX_SESSIONS_PER_SCOPE = 50;
/** Summaries are a one-line reminder in a list ("which thread was that?"), not the prompt. */
export const SUMMARY_MAX_CHARS = 120;

const timestamp = z.number().int().nonnegative();

export const sessionEntrySchema = z.strictObject({
  key: z.string().regex(/^[0-9a-f]{24}$/),
  scopeId: z.string().min(1),
  cwd: z.string().refine(isAbsolute, { message: 'must be an absolute path' }),
  policyFingerprint: z.string().min(1),
  threadId: z.string().min(1),
  createdAt: timestamp,
  lastUsedAt: timestamp,
  summary: z
    .string()
    .min(1)
    .max(SUMMARY_MAX_CHARS)
    .regex(/^[^\r\n\u2028\u2029]*$/, { message: 'must be one line' })
    .optional(),
  status: z.enum(['active', 'archived']),
});

/**
 * `<stateDir>/sessions/<sha256(scopeId), first 32 hex>.json`: one scope's threads, newest first.
 * Every entry belongs to the file's scope.
 */
export const sessionsFileSchema = z
  .strictObject({ scopeId: z.string().min(1), sessions: z.array(sessionEntrySchema) })
  .refine((file) => file.sessions.every((e) => e.scopeId === file.scopeId), {
    message: "every entry must belong to the file's scopeId",
    path: ['sessions'],
  });

/** `<stateDir>/sessions.json` of earlier versions: every scope's threads in one file. */
export const legacySessionsFileSchema = z.strictObject({ sessions: z.array(sessionEntrySchema) });

export type SessionEntry = z.infer<typeof sessionEntrySchema>;
export type SessionStatus = SessionEntry['status'];

const recordInputSchema = z.strictObject({
  scopeId: z.string().min(1),
  cwd: z.string().refine(isAbsolute, { message: 'must be an absolute path' }),
  policyFingerprint: z.string().min(1),
  threadId: z.string().min(1),
  at: timestamp,
  summary: z.string().optional(),
});

export type SessionRecordInput = z.input<typeof recordInputSchema>;

export interface SessionCatalogOptions {
  /**
   * Told when a corrupt file was set aside: a scope's file (found on that scope's first use; the
   * scope then starts empty) or, at `open`, an old `sessions.json` that could not be migrated.
   */
  onCorrupt?: (info: { path: string; movedTo: string | undefined; problem: string }) => void;
  /** Scopes kept parsed in memory (LRU); default DEFAULT_SESSION_CACHE_SIZE. */
  cacheSize?: number;
}

/** The file a scope's threads are kept in. */
export function sessionFilePath(stateDir: string, scopeId: string): string {
  return join(stateDir, SESSIONS_DIR, `${scopeFileStem(scopeId)}.json`);
}

/**
 * The key a resumable thread is filed under: which chat, which directory, which policy. Resuming
 * only under the same key means a thread never silently continues with a wider sandbox or in
 * another directory than it was started with.
 */
export function sessionKey(scopeId: string, cwd: string, policyFingerprint: string): string {
  return createHash('sha256').update(`${scopeId}|${cwd}|${policyFingerprint}`).digest('hex').slice(0, 24);
}

/**
 * One line, whitespace collapsed, at most SUMMARY_MAX_CHARS UTF-16 units (what the schema's
 * `max` counts), `…` marking a cut that never splits a surrogate pair; empty → undefined.
 */
export function summarize(text: string): string | undefined {
  const line = text.replace(/\s+/g, ' ').trim();
  if (line.length === 0) return undefined;
  if (line.length <= SUMMARY_MAX_CHARS) return line;
  let cut = SUMMARY_MAX_CHARS - 1;
  if (isHighSurrogate(line.charCodeAt(cut - 1))) cut--;
  return `${line.slice(0, cut).trimEnd()}…`;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/**
 * Agent threads each chat has used, so /sessions can list them and a new run can safely resume
 * the newest thread made under the same directory and policy.
 *
 * One file per scope, `<stateDir>/sessions/<sha256(scopeId), first 32 hex>.json`, replaced
 * atomically and fsynced when that scope changes — a write costs the same with 10 or 100,000
 * chats. `open` reads none of them: a scope's file is read on its first use and kept in an LRU
 * cache (`cacheSize` scopes), so boot does not depend on how many chats there are. An old
 * single-file `sessions.json` is split into per-scope files at `open` and renamed
 * `sessions.json.migrated`.
 *
 * A scope file that is corrupt (or holds another scope) is set aside as `<name>.corrupt` and that
 * scope starts empty: the catalog only remembers resumable threads, so losing it costs a fresh
 * thread, while refusing to start would cost the whole daemon.
 *
 * Durability: a new thread, an archive, a changed directory / policy / summary, a reactivation are
 * on disk before the call returns. The one exception is the daemon's most frequent call — the same
 * thread used again a little later — see `record`.
 *
 * Single writer: one catalog per state directory. Results are copies; all methods are synchronous.
 */
export class SessionCatalog {
  readonly #dir: string;
  readonly #cacheSize: number;
  readonly #onCorrupt: SessionCatalogOptions['onCorrupt'];
  /** scopeId → its threads, for the most recently used scopes. LRU order (Map insertion order). */
  readonly #cache = new Map<string, ScopeSlot>();

  private constructor(dir: string, options: SessionCatalogOptions) {
    this.#dir = dir;
    this.#cacheSize = Math.max(1, Math.floor(options.cacheSize ?? DEFAULT_SESSION_CACHE_SIZE));
    this.#onCorrupt = options.onCorrupt;
  }

  /** Creates the directory and migrates an old `sessions.json`; reads no scope file. */
  static open(stateDir: string, options: SessionCatalogOptions = {}): SessionCatalog {
    const dir = join(stateDir, SESSIONS_DIR);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    migrateLegacyFile(stateDir, options.onCorrupt);
    return new SessionCatalog(dir, options);
  }

  /**
   * Note that `threadId` was used in this scope at `at`. A known thread gets the new `lastUsedAt`,
   * the directory and policy it was used under now (so its key follows its latest use) and becomes
   * active again; it keeps its summary (or takes this one if it had none). A new thread is added.
   * Returns the stored entry.
   *
   * Written before returning — except when the thread is known and already active, directory,
   * policy and summary stay the same, and `lastUsedAt` ends up less than LAST_USED_WRITE_SLACK_MS
   * past what the scope's file holds for it: then only memory changes (the file follows with the
   * scope's next write, or when the scope leaves the cache). A kill therefore loses at most a
   * minute of "last used" of a thread that stays listed and resumable under the same key — worth
   * it, as that is the call the daemon makes at the start of every run. (It can change which entry
   * the 50-per-scope cap drops first after such a kill; nothing else.)
   */
  record(input: SessionRecordInput): SessionEntry {
    const { scopeId, cwd, policyFingerprint, threadId, at, summary } = parseInput(recordInputSchema, input);
    const key = sessionKey(scopeId, cwd, policyFingerprint);
    const slot = this.#slot(scopeId);
    const list = [...slot.list];
    const index = list.findIndex((e) => e.threadId === threadId);
    let entry: SessionEntry;
    if (index >= 0) {
      const known = list[index]!;
      entry = {
        ...known,
        key,
        cwd,
        policyFingerprint,
        lastUsedAt: Math.max(known.lastUsedAt, at),
        status: 'active',
      };
      if (entry.summary === undefined && summary !== undefined) setSummary(entry, summary);
      list[index] = entry;
      const onDisk = slot.onDisk.get(threadId);
      if (
        known.status === 'active' &&
        known.cwd === cwd &&
        known.policyFingerprint === policyFingerprint &&
        known.summary === entry.summary &&
        onDisk !== undefined &&
        entry.lastUsedAt - onDisk < LAST_USED_WRITE_SLACK_MS
      ) {
        slot.list = list.sort(newestFirst); // memory only: see above
        return { ...entry };
      }
    } else {
      entry = {
        key,
        scopeId,
        cwd,
        policyFingerprint,
        threadId,
        createdAt: at,
        lastUsedAt: at,
        status: 'active',
      };
      if (summary !== undefined) setSummary(entry, summary);
      list.push(entry);
    }
    list.sort(newestFirst);
    this.#commit(scopeId, capped(list, threadId));
    return { ...entry };
  }

  /** Every thread of the scope, newest `lastUsedAt` first. */
  forScope(scopeId: string): SessionEntry[] {
    return this.#slot(scopeId).list.map((e) => ({ ...e }));
  }

  /**
   * The newest active thread started under exactly this scope, directory and policy — the one a
   * new run may resume. The fields are compared too, not only the (truncated, `|`-joined) key, so a
   * key collision can never hand a thread to another directory.
   */
  find(scopeId: string, cwd: string, policyFingerprint: string): SessionEntry | undefined {
    const key = sessionKey(scopeId, cwd, policyFingerprint);
    const hit = this.#slot(scopeId).list.find(
      (e) =>
        e.status === 'active' && e.key === key && e.cwd === cwd && e.policyFingerprint === policyFingerprint,
    );
    return hit && { ...hit };
  }

  byThread(scopeId: string, threadId: string): SessionEntry | undefined {
    const hit = this.#slot(scopeId).list.find((e) => e.threadId === threadId);
    return hit && { ...hit };
  }

  /** Archive the thread (kept in the list, never resumed by `find`). False when the scope has no such thread. */
  archive(scopeId: string, threadId: string): boolean {
    const { list } = this.#slot(scopeId);
    const index = list.findIndex((e) => e.threadId === threadId);
    if (index < 0) return false;
    if (list[index]!.status === 'archived') return true;
    const next = [...list];
    next[index] = { ...list[index]!, status: 'archived' };
    this.#commit(scopeId, next);
    return true;
  }

  /**
   * Scope ids with at least one entry. O(scopes): lists the directory and reads every file not
   * in the cache (without caching it) — for tests and tools, not for the daemon's hot paths.
   */
  scopes(): string[] {
    const found = new Set<string>();
    const cached = new Set<string>();
    for (const [scopeId, slot] of this.#cache) {
      cached.add(`${scopeFileStem(scopeId)}.json`);
      if (slot.list.length > 0) found.add(scopeId);
    }
    for (const name of readdirSync(this.#dir)) {
      if (!SCOPE_FILE_NAME.test(name) || cached.has(name)) continue;
      const read = this.#read(join(this.#dir, name), undefined);
      if (read && read.list.length > 0) found.add(read.scopeId);
    }
    return [...found];
  }

  /** The scope's threads: from the cache, else from its file (then cached). */
  #slot(scopeId: string): ScopeSlot {
    let slot = this.#cache.get(scopeId);
    if (slot === undefined) {
      const read = this.#read(join(this.#dir, `${scopeFileStem(scopeId)}.json`), scopeId);
      const list = read?.list ?? [];
      slot = { list, onDisk: lastUsedOf(list) };
    }
    this.#remember(scopeId, slot);
    return slot;
  }

  /**
   * Read and validate one scope file. `expected`: the scope it must hold (else the file's name
   * must match the scope it names). Missing → undefined; corrupt → set aside, reported, undefined.
   */
  #read(path: string, expected: string | undefined): { scopeId: string; list: SessionEntry[] } | undefined {
    const read = readStateFile(path, sessionsFileSchema);
    if (read.kind === 'missing') return undefined;
    let problem: string;
    if (read.kind === 'corrupt') problem = read.problem;
    else {
      const { scopeId, sessions } = read.value;
      const belongs =
        expected === undefined ? path.endsWith(`${scopeFileStem(scopeId)}.json`) : scopeId === expected;
      if (belongs) return { scopeId, list: normalized(sessions) };
      const wanted = expected === undefined ? 'the one its name is made from' : JSON.stringify(expected);
      problem = `holds scope ${JSON.stringify(scopeId)}, not ${wanted}`;
    }
    const movedTo = quarantineFile(path);
    this.#onCorrupt?.({ path, movedTo, problem });
    return undefined;
  }

  /** Put `slot` at the young end of the LRU; the oldest beyond `cacheSize` leave (written first if behind). */
  #remember(scopeId: string, slot: ScopeSlot): void {
    this.#cache.delete(scopeId);
    this.#cache.set(scopeId, slot);
    while (this.#cache.size > this.#cacheSize) {
      const [oldest, gone] = this.#cache.entries().next().value!;
      this.#cache.delete(oldest);
      if (gone.list.some((e) => gone.onDisk.get(e.threadId) !== e.lastUsedAt)) {
        try {
          this.#write(oldest, gone.list);
        } catch {
          // Best effort: only skipped lastUsedAt moves (< LAST_USED_WRITE_SLACK_MS each) are lost.
        }
      }
    }
  }

  /** Write the scope's file with `list`; memory changes only once it is on disk. */
  #commit(scopeId: string, list: SessionEntry[]): void {
    this.#write(scopeId, list);
    this.#remember(scopeId, { list, onDisk: lastUsedOf(list) });
  }

  #write(scopeId: string, list: SessionEntry[]): void {
    writeStateFile(join(this.#dir, `${scopeFileStem(scopeId)}.json`), {
      scopeId,
      sessions: list,
    } satisfies z.input<typeof sessionsFileSchema>);
  }
}

interface ScopeSlot {
  /** Newest `lastUsedAt` first. */
  list: SessionEntry[];
  /** threadId → `lastUsedAt` as the scope's file has it (memory may be ahead: see `record`). */
  onDisk: Map<string, number>;
}

function lastUsedOf(list: SessionEntry[]): Map<string, number> {
  return new Map(list.map((e) => [e.threadId, e.lastUsedAt]));
}

/**
 * Entries as read from a file: keys recomputed (the key is derived; a hand-edited file could
 * disagree), newest first, one entry per thread (duplicates come from hand edits or a merge in
 * the migration: the newest wins).
 */
function normalized(entries: SessionEntry[]): SessionEntry[] {
  const fixed = entries
    .map((e) => ({ ...e, key: sessionKey(e.scopeId, e.cwd, e.policyFingerprint) }))
    .sort(newestFirst);
  const seen = new Set<string>();
  return fixed.filter((e) => !seen.has(e.threadId) && seen.add(e.threadId));
}

/**
 * Split an old `<stateDir>/sessions.json` into per-scope files, then rename it
 * `sessions.json.migrated`. Each scope file is written atomically; a crash before the rename
 * redoes the migration at the next open, merging with what an earlier attempt wrote (same
 * entries, so the result is the same). A corrupt old file is set aside and reported, like a
 * corrupt scope file.
 */
function migrateLegacyFile(stateDir: string, onCorrupt: SessionCatalogOptions['onCorrupt']): void {
  const path = join(stateDir, LEGACY_FILE);
  const read = readStateFile(path, legacySessionsFileSchema);
  if (read.kind === 'missing') return;
  if (read.kind === 'corrupt') {
    const movedTo = quarantineFile(path);
    onCorrupt?.({ path, movedTo, problem: read.problem });
    return;
  }
  const byScope = new Map<string, SessionEntry[]>();
  for (const entry of read.value.sessions) {
    const list = byScope.get(entry.scopeId) ?? [];
    list.push(entry);
    byScope.set(entry.scopeId, list);
  }
  for (const [scopeId, entries] of byScope) {
    const target = sessionFilePath(stateDir, scopeId);
    const existing = readStateFile(target, sessionsFileSchema);
    let current: SessionEntry[] = [];
    if (existing.kind === 'ok' && existing.value.scopeId === scopeId) current = existing.value.sessions;
    else if (existing.kind !== 'missing') {
      const problem = existing.kind === 'corrupt' ? existing.problem : 'holds another scope';
      onCorrupt?.({ path: target, movedTo: quarantineFile(target), problem });
    }
    const sessions = capped(normalized([...current, ...entries]));
    writeStateFile(target, { scopeId, sessions } satisfies z.input<typeof sessionsFileSchema>);
  }
  renameSync(path, `${path}.migrated`);
  fsyncDirSync(stateDir);
}

function setSummary(entry: SessionEntry, text: string): void {
  const line = summarize(text);
  if (line !== undefined) entry.summary = line;
}

/** Total order, so a list reads the same from memory and after a reload. */
function newestFirst(a: SessionEntry, b: SessionEntry): number {
  return (
    b.lastUsedAt - a.lastUsedAt ||
    b.createdAt - a.createdAt ||
    (a.threadId < b.threadId ? -1 : a.threadId > b.threadId ? 1 : 0)
  );
}

/**
 * At most MAX_SESSIONS_PER_SCOPE entries: drop the oldest archived ones first (nobody resumes
 * those), then the oldest. `keep` (the thread just recorded) is never dropped, even if the caller
 * passed an old time. `list` is newest first.
 */
function capped(list: SessionEntry[], keep?: string): SessionEntry[] {
  let excess = list.length - MAX_SESSIONS_PER_SCOPE;
  if (excess <= 0) return list;
  const drop = new Set<SessionEntry>();
  for (const archivedOnly of [true, false]) {
    for (let i = list.length - 1; i >= 0 && excess > 0; i--) {
      const e = list[i]!;
      if (drop.has(e) || e.threadId === keep || (archivedOnly && e.status !== 'archived')) continue;
      drop.add(e);
      excess--;
    }
  }
  return list.filter((e) => !drop.has(e));
}

function parseInput<T>(schema: z.ZodType<T>, input: unknown): T {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new LarkcodeError('internal', `SessionCatalog.record: ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}
