import { SlidingWindowLimiter } from '../core/rate-limiter.js';

/**
 * Keeps sends to one chat under Feishu's per-chat limit (5 QPS per user or group, shared by
 * every bot in it): at most `perWindow` per `windowMs`, per chat.
 */
export class ChatPacer {
  readonly #limiter: SlidingWindowLimiter;

  constructor(perWindow = 4, windowMs = 1000, now: () => number = Date.now) {
    this.#limiter = new SlidingWindowLimiter([{ windowMs, max: perWindow }], now);
  }

  slot(chatId: string, signal?: AbortSignal): Promise<void> {
    return this.#limiter.take(chatId, signal);
  }
}
