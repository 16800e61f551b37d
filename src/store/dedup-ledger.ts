import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { isErrno, readJsonSync, writeFileAtomicSync } from './atomic-file.js';

/** Feishu redelivers for hours (15 s, 5 min, 1 h, 6 h); keep ids well past that. */
export const DEFAULT_DEDUP_TTL_MS = 24 * 60 * 60 * 1000;

/** Memory guard (~30 MB): beyond this many live ids the oldest are forgotten early. */
const MAX_ENTRIES = 200_000;
/** Below this many lines the journal is never compacted for size (not worth a rewrite). */
const MIN_COMPACT_LINES = 1_024;

const JOURNAL = 'dedup.jsonl';
/** The conf-based ledger of earlier versions (`{ [id]: ms }`); imported once, then removed. */
const LEGACY_FILE = 'dedup-ledger.json';

interface JournalLine {
  k: string;
  t: number;
}

/**
 * Persistent record of inbound message and event ids already accepted, so a redelivery — even
 * after a restart or a kill -9 — runs nothing twice.
 *
 * Storage is an append-only journal, `<stateDir>/dedup.jsonl`, one `{"k":id,"t":ms}` line per new
 * id. `firstSighting` appends through a kept-open fd and fsyncs before it returns, so an id the
 * caller acted on is never forgotten; the cost per call is one small write + fsync, whatever the
 * ledger's size. The journal is rewritten atomically with only the live ids at construction
 * (when it holds anything else: expired or duplicate ids, a torn last line from a crash) and when
 * it grows past twice the live ids — amortized O(1), since each rewrite drops at least as many
 * lines as it keeps. Expiry (TTL) happens in memory, oldest first.
 *
 * Single writer: one ledger per state directory.
 */
export class DedupLedger {
  readonly #path: string;
  /** id → first-seen ms; insertion order is time order (re-added ids move to the end). */
  readonly #seen = new Map<string, number>();
  #fd: number | undefined;
  /** Lines (valid or not) in the journal file. */
  #fileLines = 0;
  /** Set when an append failed midway: the journal's tail is suspect. */
  #rewriteFirst = false;

  constructor(
    stateDir: string,
    private readonly ttlMs = DEFAULT_DEDUP_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    this.#path = join(stateDir, JOURNAL);
    const found = new Map<string, number>();
    const { lines, clean } = this.#load(found);
    const legacy = this.#importLegacy(stateDir, found);
    // Time order, so expiry can stop at the first live id.
    for (const [k, t] of [...found].sort((a, b) => a[1] - b[1])) this.#seen.set(k, t);
    this.#prune();
    this.#fileLines = lines;
    if (!clean || legacy || lines !== this.#seen.size) this.#compact();
    else this.#fd = openSync(this.#path, 'a', 0o600);
    if (legacy) unlinkSync(join(stateDir, LEGACY_FILE));
  }

  /** True the first time any of these keys is seen; records them all (durably) before returning. */
  firstSighting(keys: readonly string[]): boolean {
    this.#prune();
    const present = [...new Set(keys.filter((k) => k.length > 0))];
    const seenBefore = present.some((key) => this.#seen.has(key));
    // Remember the other ids too, so either id catches the next redelivery.
    const fresh = present.filter((key) => !this.#seen.has(key));
    if (fresh.length > 0) this.#append(fresh);
    return !seenBefore;
  }

  /** Close the journal. The ledger cannot record ids afterwards. */
  close(): void {
    if (this.#fd === undefined) return;
    closeSync(this.#fd);
    this.#fd = undefined;
  }

  #append(keys: readonly string[]): void {
    if (this.#fd === undefined) throw new Error('DedupLedger is closed');
    if (this.#rewriteFirst) this.#compact();
    const at = this.now();
    const text = keys.map((k) => JSON.stringify({ k, t: at } satisfies JournalLine) + '\n').join('');
    const bytes = Buffer.from(text, 'utf8');
    const fd = this.#fd;
    try {
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
    } catch (error) {
      // A partial line may be on disk (ENOSPC, EIO); appending after it would glue the next id
      // onto it. Rewrite from memory before the next append.
      this.#rewriteFirst = true;
      throw error;
    }
    // Only now, with the ids on disk, does memory say "seen".
    for (const key of keys) this.#seen.set(key, at);
    this.#fileLines += keys.length;
    this.#capSize();
    if (this.#fileLines > MIN_COMPACT_LINES && this.#fileLines > 2 * this.#seen.size) {
      try {
        this.#compact();
      } catch {
        // The ids are already durable; a failed compaction only leaves a longer journal (retried).
      }
    }
  }

  /**
   * Read the journal (and a legacy ledger) into `found`. `clean` is false when a line did not
   * parse — a torn tail from a crash — or the file does not end in '\n' (appending to it would
   * glue two lines together).
   */
  #load(found: Map<string, number>): { lines: number; clean: boolean } {
    let text: string;
    try {
      text = readFileSync(this.#path, 'utf8');
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return { lines: 0, clean: true };
      throw error;
    }
    if (text.length === 0) return { lines: 0, clean: true };
    const parts = text.split('\n');
    let clean = parts[parts.length - 1] === '';
    if (clean) parts.pop();
    for (const part of parts) {
      const line = parseLine(part);
      if (line === undefined) clean = false;
      else merge(found, line.k, line.t);
    }
    return { lines: parts.length, clean };
  }

  #importLegacy(stateDir: string, found: Map<string, number>): boolean {
    let legacy: unknown;
    try {
      legacy = readJsonSync<unknown>(join(stateDir, LEGACY_FILE));
    } catch {
      return false; // unreadable: leave it alone
    }
    if (typeof legacy !== 'object' || legacy === null) return false;
    for (const [key, at] of Object.entries(legacy)) {
      if (typeof at === 'number' && key.length > 0) merge(found, key, at);
    }
    return true;
  }

  /** Drop expired ids, oldest first; O(expired). */
  #prune(): void {
    const cutoff = this.now() - this.ttlMs;
    for (const [key, at] of this.#seen) {
      if (at >= cutoff) break;
      this.#seen.delete(key);
    }
  }

  #capSize(): void {
    for (const key of this.#seen.keys()) {
      if (this.#seen.size <= MAX_ENTRIES) break;
      this.#seen.delete(key);
    }
  }

  /** Atomically rewrite the journal with only the live ids, then reopen it for appending. */
  #compact(): void {
    let text = '';
    for (const [k, t] of this.#seen) text += JSON.stringify({ k, t } satisfies JournalLine) + '\n';
    writeFileAtomicSync(this.#path, text); // on failure the old journal (and fd) stay in use
    if (this.#fd !== undefined) closeSync(this.#fd); // it points at the replaced file
    this.#fd = openSync(this.#path, 'a', 0o600);
    this.#fileLines = this.#seen.size;
    this.#rewriteFirst = false;
  }
}

function parseLine(text: string): JournalLine | undefined {
  try {
    const value = JSON.parse(text) as Partial<JournalLine> | null;
    if (typeof value?.k === 'string' && value.k.length > 0 && typeof value.t === 'number') {
      return { k: value.k, t: value.t };
    }
  } catch {
    // torn or garbage line
  }
  return undefined;
}

function merge(found: Map<string, number>, key: string, at: number): void {
  const known = found.get(key);
  if (known === undefined || at > known) found.set(key, at);
}
