import * as lark from '@larksuiteoapi/node-sdk';
import { chatScopeId, type MessageInput, topicScopeId } from '../core/bridge-input.js';
import { type AccessPolicy, isAllowedSender } from '../policy/access.js';
import type { BotIdentity } from './api.js';
import type { ReplyTarget } from './port.js';

/** The `im.message.receive_v1` payload as the EventDispatcher hands it over (header merged in). */
export interface RawMessageEvent {
  event_id?: string;
  sender: { sender_id: { open_id?: string; user_id?: string; union_id?: string }; sender_type?: string };
  message: {
    message_id: string;
    chat_id: string;
    chat_type: string;
    message_type: string;
    content: string;
    thread_id?: string;
    root_id?: string;
    parent_id?: string;
    create_time?: string;
    mentions?: unknown[];
  };
}

export type DropReason = 'duplicate' | 'own_message' | 'not_mentioned' | 'stranger' | 'malformed';

export type IntakeDecision =
  | {
      action: 'drop';
      reason: DropReason;
      messageId?: string;
      stranger?: { openId: string; privateChat: ReplyTarget | undefined };
    }
  | { action: 'unsupported'; messageType: string; target: ReplyTarget; scopeId: string; actorId: string }
  | { action: 'input'; input: MessageInput; target: ReplyTarget };

/** Message types whose content reaches the agent as text today. */
const SUPPORTED_TYPES = new Set(['text', 'post']);

export interface IntakeDeps {
  bot: BotIdentity;
  policy: () => AccessPolicy;
  /** Records the ids and says whether this is their first sighting (persistent dedup). */
  firstSighting: (keys: string[]) => boolean;
  now: () => number;
}

/**
 * Decide what an inbound message means: drop (duplicate, our own, not for us,
 * a stranger), answer "not supported", or a BridgeInput for its scope.
 * Normalizing uses the node-sdk Channel module's own `normalize`.
 */
export async function decideMessage(raw: RawMessageEvent, deps: IntakeDeps): Promise<IntakeDecision> {
  const message = raw?.message;
  if (!message?.message_id || !message.chat_id) return { action: 'drop', reason: 'malformed' };
  const senderId = raw.sender?.sender_id?.open_id ?? raw.sender?.sender_id?.user_id ?? '';
  if (raw.sender?.sender_type === 'app' || senderId === deps.bot.openId) {
    return { action: 'drop', reason: 'own_message', messageId: message.message_id };
  }
  if (!deps.firstSighting([`msg:${message.message_id}`, raw.event_id ? `evt:${raw.event_id}` : ''])) {
    return { action: 'drop', reason: 'duplicate', messageId: message.message_id };
  }

  const normalized = await lark.normalize(raw as unknown as Parameters<typeof lark.normalize>[0], {
    botIdentity: { openId: deps.bot.openId, name: deps.bot.name },
    stripBotMentions: true,
  });
  const chatType = normalized.chatType === 'p2p' ? 'p2p' : 'group';
  const policy = deps.policy();
  const mentionRequired = policy.requireMentionIn?.(message.chat_id) ?? policy.requireMentionInGroups;
  if (chatType === 'group' && mentionRequired && !normalized.mentionedBot) {
    return { action: 'drop', reason: 'not_mentioned', messageId: message.message_id };
  }
  if (!isAllowedSender(policy, senderId, message.chat_id)) {
    const privateChat: ReplyTarget | undefined =
      chatType === 'p2p'
        ? { chatId: message.chat_id, messageId: message.message_id, inThread: false }
        : undefined;
    return {
      action: 'drop',
      reason: 'stranger',
      messageId: message.message_id,
      stranger: { openId: senderId, privateChat },
    };
  }

  const threadId = message.thread_id || undefined;
  const scopeId = threadId ? topicScopeId(message.chat_id, threadId) : chatScopeId(message.chat_id);
  const target: ReplyTarget = {
    chatId: message.chat_id,
    messageId: message.message_id,
    inThread: Boolean(threadId),
  };
  if (!SUPPORTED_TYPES.has(message.message_type)) {
    return { action: 'unsupported', messageType: message.message_type, target, scopeId, actorId: senderId };
  }
  return {
    action: 'input',
    target,
    input: {
      kind: 'message',
      scopeId,
      messageId: message.message_id,
      actorId: senderId,
      chat: { chatId: message.chat_id, chatType, ...(threadId ? { threadId } : {}) },
      text: normalized.content,
      receivedAt: deps.now(),
      ...mentionsOf(normalized.mentions, deps.bot.openId),
    },
  };
}

function mentionsOf(
  mentions: { openId?: string; name?: string; isBot?: boolean }[] | undefined,
  botOpenId: string,
): { mentions?: { openId: string; name: string }[] } {
  const people = (mentions ?? [])
    .filter((m) => m.openId && m.openId !== botOpenId && !m.isBot)
    .map((m) => ({ openId: m.openId as string, name: m.name ?? '' }));
  return people.length > 0 ? { mentions: people } : {};
}
