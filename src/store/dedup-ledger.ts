import Conf from 'conf';

type LedgerFile = Record<string, number>;

/** Feishu redelivers for hours (15 s, 5 min, 1 h, 6 h); keep ids well past that. */
export const DEFAULT_DEDUP_TTL_MS = 24 * 60 * 60 * 1000;
const MAX_ENTRIES = 20_000;

/**
 * Persistent record of inbound message and event ids already accepted, so a
 * redelivery — even after a restart — runs nothing twice.
 */
export class DedupLedger {
  readonly #file: Conf<LedgerFile>;
  readonly #seen = new Map<string, number>();

  constructor(
    stateDir: string,
    private readonly ttlMs = DEFAULT_DEDUP_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {
    this.#file = new Conf<LedgerFile>({
      cwd: stateDir,
      configName: 'dedup-ledger',
      accessPropertiesByDotNotation: false,
      clearInvalidConfig: false,
    });
    const cutoff = this.now() - this.ttlMs;
    for (const [key, at] of Object.entries(this.#file.store)) {
      if (typeof at === 'number' && at >= cutoff) this.#seen.set(key, at);
    }
    if (this.#seen.size !== Object.keys(this.#file.store).length) this.#flush();
  }

  /** True the first time any of these keys is seen; records them all. */
  firstSighting(keys: readonly string[]): boolean {
    const present = keys.filter((k) => k.length > 0);
    if (present.some((key) => this.#seen.has(key))) {
      // Remember the other ids too, so either id catches the next redelivery.
      this.#record(present);
      return false;
    }
    this.#record(present);
    return true;
  }

  #record(keys: readonly string[]): void {
    const at = this.now();
    let changed = false;
    for (const key of keys) {
      if (!this.#seen.has(key)) {
        this.#seen.set(key, at);
        changed = true;
      }
    }
    if (!changed) return;
    this.#prune();
    this.#flush();
  }

  #prune(): void {
    const cutoff = this.now() - this.ttlMs;
    for (const [key, at] of this.#seen) {
      if (at < cutoff || this.#seen.size > MAX_ENTRIES) this.#seen.delete(key);
      else break; // insertion order is time order
    }
  }

  #flush(): void {
    this.#file.store = Object.fromEntries(this.#seen);
  }
}
