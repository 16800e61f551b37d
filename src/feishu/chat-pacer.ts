import { sleep } from '../core/retry.js';

/**
 * Keeps sends to one chat under Feishu's per-chat limit (5 QPS per user or group,
 * shared by every bot in it). A sliding window per chat; callers wait for a slot.
 */
export class ChatPacer {
  readonly #recent = new Map<string, number[]>();

  constructor(
    private readonly perWindow = 4,
    private readonly windowMs = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  async slot(chatId: string, signal?: AbortSignal): Promise<void> {
    for (;;) {
      const now = this.now();
      const recent = (this.#recent.get(chatId) ?? []).filter((at) => now - at < this.windowMs);
      if (recent.length < this.perWindow) {
        recent.push(now);
        this.#recent.set(chatId, recent);
        return;
      }
      await sleep(this.windowMs - (now - (recent[0] ?? now)) + 1, signal);
    }
  }
}
