import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ChatPacer } from '../../src/feishu/chat-pacer.js';

describe('ChatPacer', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('lets 4 sends per second into one chat and holds the 5th until the window frees', async () => {
    const pacer = new ChatPacer(4, 1000);
    const granted: number[] = [];
    const start = Date.now();
    const all = Array.from({ length: 6 }, (_, i) => pacer.slot('oc_a').then(() => granted.push(i)));
    await vi.advanceTimersByTimeAsync(0);
    expect(granted).toEqual([0, 1, 2, 3]);
    await vi.advanceTimersByTimeAsync(999);
    expect(granted).toHaveLength(4);
    await vi.advanceTimersByTimeAsync(2);
    await Promise.all(all);
    expect(granted).toHaveLength(6);
    expect(Date.now() - start).toBeLessThan(1100);
  });

  it('paces chats independently', async () => {
    const pacer = new ChatPacer(1, 1000);
    await pacer.slot('oc_a');
    let otherChat = false;
    void pacer.slot('oc_b').then(() => {
      otherChat = true;
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(otherChat).toBe(true);
  });
});
