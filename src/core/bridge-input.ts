/**
 * What the Feishu gateway hands the supervisor: normalized, deduplicated,
 * policy-checked inputs, each tied to the scope it belongs to.
 */

/** `chat:<chatId>` | `topic:<chatId>:<threadId>` | `comment:…` | `doc:…` */
export type ScopeId = string;

export interface ChatRef {
  chatId: string;
  chatType: 'p2p' | 'group';
  /** Set for messages inside a topic/thread; replies then go into that thread. */
  threadId?: string;
}

/** A user message that should reach the agent. */
export interface MessageInput {
  kind: 'message';
  scopeId: ScopeId;
  messageId: string;
  actorId: string;
  chat: ChatRef;
  text: string;
  receivedAt: number;
  /** People @-mentioned besides the bot (for /invite and /remove). */
  mentions?: { openId: string; name: string }[];
}

export type BridgeInput = MessageInput;

export function chatScopeId(chatId: string): ScopeId {
  return `chat:${chatId}`;
}

export function topicScopeId(chatId: string, threadId: string): ScopeId {
  return `topic:${chatId}:${threadId}`;
}
