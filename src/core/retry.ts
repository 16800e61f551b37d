/**
 * Retry with exponential backoff and jitter, honouring a server-given delay and an
 * AbortSignal. Hand-written (listed in docs/ARCHITECTURE.md) because the delay
 * comes from Feishu's own rate-limit header and error table.
 */
export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Return a delay to retry after it, or undefined to give up and rethrow. */
  delayFor: (error: unknown, attempt: number, backoffMs: number) => number | undefined;
}

export async function withRetry<T>(
  work: () => Promise<T>,
  policy: RetryPolicy,
  signal?: AbortSignal,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= policy.attempts || signal?.aborted) throw error;
      const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      const jittered = backoff / 2 + Math.random() * (backoff / 2);
      const delay = policy.delayFor(error, attempt, jittered);
      if (delay === undefined) throw error;
      await sleep(delay, signal);
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
