import { randomBytes } from 'node:crypto';

export function hex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

/** Decimal id like the 19-digit comment/reply ids Feishu uses. */
export function numericId(): string {
  return (
    '7' +
    BigInt(`0x${hex(8)}`)
      .toString()
      .padStart(20, '0')
      .slice(-18)
  );
}

export const newMessageId = (): string => `om_${hex(16)}`;
export const newChatId = (): string => `oc_${hex(16)}`;
export const newThreadId = (): string => `omt_${hex(8)}`;
export const newEventId = (): string => hex(16);
export const newCardId = (): string => numericId();
export const newOpenId = (): string => `ou_${hex(16)}`;
