import type { Logger } from 'pino';

/**
 * Side effects started by machine actions (card sends …). Tracked so shutdown
 * can wait for them, and so a failure is logged instead of lost.
 */
export class EffectTracker {
  readonly #pending = new Set<Promise<unknown>>();

  constructor(private readonly logger: Logger) {}

  track(label: string, effect: Promise<unknown>): void {
    const tracked = effect
      .catch((error) => this.logger.error({ err: error, effect: label }, 'effect failed'))
      .finally(() => this.#pending.delete(tracked));
    this.#pending.add(tracked);
  }

  get size(): number {
    return this.#pending.size;
  }

  /** Wait until nothing is pending (effects may start more effects), or the deadline. */
  async settle(deadlineMs: number): Promise<void> {
    const deadline = Date.now() + deadlineMs;
    // Let actions triggered by the last event run before looking.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.#pending.size > 0 && Date.now() < deadline) {
      const remaining = deadline - Date.now();
      await Promise.race([
        Promise.allSettled([...this.#pending]),
        new Promise((r) => setTimeout(r, remaining)),
      ]);
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (this.#pending.size > 0)
      this.logger.warn({ pending: this.#pending.size }, 'effects still pending at deadline');
  }
}
