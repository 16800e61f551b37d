import { sleep } from './retry.js';

export interface WindowLimit {
  windowMs: number;
  max: number;
}

/**
 * Keyed sliding-window limiter: callers wait for a slot that keeps every window under its
 * maximum. Hand-written (listed in docs/ARCHITECTURE.md): p-throttle has one window and no keys.
 */
export class SlidingWindowLimiter {
  readonly #recent = new Map<string, number[]>();
  readonly #urgentWaiting = new Map<string, number>();
  readonly #longestWindow: number;

  constructor(
    private readonly limits: readonly WindowLimit[],
    private readonly now: () => number = Date.now,
  ) {
    this.#longestWindow = Math.max(...limits.map((l) => l.windowMs));
  }

  /**
   * Wait for a slot. `urgent` callers (a run's final card) go before ordinary ones waiting on
   * the same key: ordinary callers hold back while an urgent one waits.
   */
  async take(key: string, signal?: AbortSignal, urgent = false): Promise<void> {
    if (urgent) this.#urgentWaiting.set(key, (this.#urgentWaiting.get(key) ?? 0) + 1);
    try {
      await this.#take(key, urgent, signal);
    } finally {
      if (urgent) {
        const left = (this.#urgentWaiting.get(key) ?? 1) - 1;
        if (left > 0) this.#urgentWaiting.set(key, left);
        else this.#urgentWaiting.delete(key);
      }
    }
  }

  /**
   * Take a slot only if one is free now. Returns 0 when taken, else how long until one frees
   * up — for callers that would rather coalesce than wait.
   */
  tryTake(key: string): number {
    // Urgent callers waiting on this key go first.
    if (this.#urgentWaiting.has(key)) return 50;
    const now = this.now();
    const recent = (this.#recent.get(key) ?? []).filter((at) => now - at < this.#longestWindow);
    const waitMs = this.#waitFor(recent, now);
    if (waitMs <= 0) recent.push(now);
    if (recent.length > 0) this.#recent.set(key, recent);
    else this.#recent.delete(key);
    return Math.max(0, waitMs);
  }

  /** Forget a key (its owner is done with it). */
  forget(key: string): void {
    this.#recent.delete(key);
  }

  async #take(key: string, urgent: boolean, signal?: AbortSignal): Promise<void> {
    for (;;) {
      if (!urgent && this.#urgentWaiting.has(key)) {
        await sleep(50, signal);
        continue;
      }
      const now = this.now();
      const recent = (this.#recent.get(key) ?? []).filter((at) => now - at < this.#longestWindow);
      const waitMs = this.#waitFor(recent, now);
      if (waitMs <= 0) {
        recent.push(now);
        this.#recent.set(key, recent);
        return;
      }
      this.#recent.set(key, recent);
      await sleep(waitMs, signal);
    }
  }

  /** 0 when a call may go now; otherwise how long until the tightest window frees a slot. */
  #waitFor(recent: number[], now: number): number {
    let wait = 0;
    for (const { windowMs, max } of this.limits) {
      const inWindow = recent.filter((at) => now - at < windowMs);
      if (inWindow.length >= max)
        wait = Math.max(wait, windowMs - (now - inWindow[inWindow.length - max]!) + 1);
    }
    return wait;
  }
}
