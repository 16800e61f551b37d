import type { CardJson } from '../cards/run-card.js';

/** Where a reply goes: under this message, inside its thread when it has one. */
export interface ReplyTarget {
  messageId: string;
  inThread: boolean;
}

/**
 * The one narrow interface machines and renderers use to talk to Feishu.
 * The real one wraps the node-sdk; tests use it against the local emulator.
 */
export interface FeishuPort {
  replyCard(target: ReplyTarget, card: CardJson, signal?: AbortSignal): Promise<string>;
  replyText(target: ReplyTarget, text: string, signal?: AbortSignal): Promise<string>;
  addReaction(messageId: string, emojiType: string): Promise<string>;
}
