import type { CardJson } from '../cards/run-card.js';
import type { MessageInput } from '../core/bridge-input.js';

export interface WriteOptions {
  signal?: AbortSignal;
  urgent?: boolean;
}

/** Where a reply goes: under this message, inside its thread when it has one. */
export interface ReplyTarget {
  chatId: string;
  messageId: string;
  inThread: boolean;
}

/** A reply to `input` (or to another message of its chat, e.g. a card), in its thread when it has one. */
export function replyTargetFor(input: MessageInput, messageId = input.messageId): ReplyTarget {
  return { chatId: input.chat.chatId, messageId, inThread: Boolean(input.chat.threadId) };
}

/**
 * The one narrow interface machines and renderers use to talk to Feishu.
 * The real one wraps the node-sdk; tests use it against the local emulator.
 */
export interface FeishuPort {
  replyCard(target: ReplyTarget, card: CardJson, signal?: AbortSignal): Promise<string>;
  replyText(target: ReplyTarget, text: string, signal?: AbortSignal): Promise<string>;
  /** A new message in the chat, for when the message to reply to is gone. */
  sendCard(chatId: string, card: CardJson, signal?: AbortSignal): Promise<string>;
  sendText(chatId: string, text: string, signal?: AbortSignal): Promise<string>;
  /**
   * Replace the content of a card the bot sent. No retry: a live card's caller coalesces
   * instead. `urgent` (a run's final content) goes before other waiting writes.
   */
  patchCard(messageId: string, card: CardJson, options?: WriteOptions): Promise<void>;
  /** Reply with a card, without retrying rate limits (the caller backs off and coalesces). */
  replyCardOnce(target: ReplyTarget, card: CardJson, options?: WriteOptions): Promise<string>;
  /** A post message with one markdown paragraph (the fallback when cards cannot be used). */
  replyMarkdown(target: ReplyTarget, markdown: string, signal?: AbortSignal): Promise<string>;

  // CardKit: a card entity, sent once by reference, then changed by sequenced operations.
  // None of these retry rate limits: live cards coalesce instead.
  createCardEntity(card: CardJson, options?: WriteOptions): Promise<string>;
  replyCardEntity(target: ReplyTarget, cardId: string, options?: WriteOptions): Promise<string>;
  sendCardEntity(chatId: string, cardId: string, options?: WriteOptions): Promise<string>;
  updateCardEntity(cardId: string, card: CardJson, sequence: number, options?: WriteOptions): Promise<void>;
  /** The full text of one markdown element; a prefix of the old text animates as typing. */
  streamCardText(
    cardId: string,
    elementId: string,
    text: string,
    sequence: number,
    options?: WriteOptions,
  ): Promise<void>;
  setCardStreaming(
    cardId: string,
    settings: { streaming: boolean; summary?: string },
    sequence: number,
    options?: WriteOptions,
  ): Promise<void>;

  addReaction(messageId: string, emojiType: string): Promise<string>;
  removeReaction(messageId: string, reactionId: string): Promise<void>;
}
