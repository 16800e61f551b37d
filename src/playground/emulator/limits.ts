// Feishu limits the emulator enforces (feishu-platform.md §1.1, §2.1, §2.2).

export const LIMITS = {
  chatSendsPerSecond: 5,
  messagePatchesPerSecond: 5,
  cardOpsPerSecond: 10,
  /** Card / post message content, UTF-8 bytes of the content string (30 KB). */
  messageContentBytes: 30 * 1024,
  /** CardKit entity JSON, UTF-8 bytes (30 KB, error 200860). */
  cardEntityBytes: 30 * 1024,
  cardElements: 200,
  /** 4 or more markdown tables fail (prod observation in openclaw-lark). */
  cardTablesMax: 3,
  callbackDeadlineMs: 3000,
} as const;

/** Sliding one-second windows keyed by chat / message / card, in real time. */
export class RateWindows {
  private readonly hits = new Map<string, number[]>();

  /** Number of accepted hits for `key` within the last `windowMs`. */
  count(key: string, windowMs = 1000, now = Date.now()): number {
    const list = this.hits.get(key);
    if (!list) return 0;
    while (list.length > 0 && now - list[0]! >= windowMs) list.shift();
    return list.length;
  }

  record(key: string, now = Date.now()): void {
    const list = this.hits.get(key) ?? [];
    list.push(now);
    this.hits.set(key, list);
  }
}
