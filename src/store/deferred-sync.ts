import { close, fsync, open } from 'node:fs';

/**
 * Group commit for fsync: paths written since the last flush are fsynced together,
 * off the event loop (libuv's thread pool), a few milliseconds later.
 *
 * Why: a synchronous fsync costs ~5–10 ms; a burst of state changes (1,000 runs ending
 * together) would stall the daemon for seconds. Atomic renames already make every write
 * safe against a killed process (the OS keeps its cache); fsync only matters for a power
 * loss, and then at most the last flush window of changes is at risk.
 */
export class DeferredSync {
  readonly #pending = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> = Promise.resolve();

  constructor(private readonly windowMs = 20) {}

  schedule(path: string): void {
    this.#pending.add(path);
    this.#timer ??= setTimeout(() => this.#flushNow(), this.windowMs);
    this.#timer.unref?.();
  }

  /** Resolves once everything scheduled so far is on disk. */
  async flush(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#flushNow();
    }
    await this.#inFlight;
  }

  #flushNow(): void {
    this.#timer = undefined;
    const paths = [...this.#pending];
    this.#pending.clear();
    this.#inFlight = this.#inFlight.then(() => Promise.all(paths.map(fsyncPath)).then(() => {}));
  }
}

function fsyncPath(path: string): Promise<void> {
  return new Promise((resolve) => {
    open(path, 'r', (openError, fd) => {
      // A file replaced or removed since is synced through its directory; nothing to do here.
      if (openError) return resolve();
      fsync(fd, () => close(fd, () => resolve()));
    });
  });
}
