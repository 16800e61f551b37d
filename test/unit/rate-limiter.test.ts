import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SlidingWindowLimiter } from '../../src/core/rate-limiter.js';

describe('SlidingWindowLimiter', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('keeps every window under its maximum (Feishu: 50/s and 1000/min per API)', async () => {
    const limiter = new SlidingWindowLimiter([
      { windowMs: 1000, max: 3 },
      { windowMs: 10_000, max: 5 },
    ]);
    const granted: number[] = [];
    const start = Date.now();
    const all = Array.from({ length: 7 }, () =>
      limiter.take('im.message.patch').then(() => granted.push(Date.now() - start)),
    );
    await vi.advanceTimersByTimeAsync(25_000);
    await Promise.all(all);
    // 3 at once, 2 more after a second (5 in ten seconds), the rest once the ten-second window frees.
    expect(granted.slice(0, 3)).toEqual([0, 0, 0]);
    expect(granted[3]).toBeGreaterThanOrEqual(1000);
    expect(granted[5]).toBeGreaterThanOrEqual(10_000);
    for (let i = 0; i < granted.length; i++) {
      expect(granted.filter((t) => t > granted[i]! - 1000 && t <= granted[i]!).length).toBeLessThanOrEqual(3);
      expect(granted.filter((t) => t > granted[i]! - 10_000 && t <= granted[i]!).length).toBeLessThanOrEqual(
        5,
      );
    }
  });

  it('limits each key on its own', async () => {
    const limiter = new SlidingWindowLimiter([{ windowMs: 1000, max: 1 }]);
    await limiter.take('a');
    let other = false;
    void limiter.take('b').then(() => {
      other = true;
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(other).toBe(true);
  });
});

describe('SlidingWindowLimiter priority', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('lets an urgent caller (a final card) go before ordinary ones already waiting', async () => {
    const limiter = new SlidingWindowLimiter([{ windowMs: 1000, max: 1 }]);
    await limiter.take('patch');
    const order: string[] = [];
    void limiter.take('patch').then(() => order.push('live 1'));
    void limiter.take('patch').then(() => order.push('live 2'));
    await vi.advanceTimersByTimeAsync(100);
    void limiter.take('patch', undefined, true).then(() => order.push('final'));
    await vi.advanceTimersByTimeAsync(5000);
    expect(order[0]).toBe('final');
    expect(order).toHaveLength(3);
  });
});
