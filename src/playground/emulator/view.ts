// "What the user sees": messages of a chat in order, with their current rendered text.
import { renderCardText, renderPostText } from './card.js';
import type { EmulatorState } from './state.js';
import type { ChatViewItem, StoredMessage } from './types.js';

function parseJson(text: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The card JSON currently shown: the live CardKit entity for cards sent by card_id. */
export function currentCard(state: EmulatorState, m: StoredMessage): Record<string, unknown> | undefined {
  if (m.msgType !== 'interactive') return undefined;
  if (m.cardId) return state.cards.get(m.cardId)?.json;
  const content = parseJson(m.content);
  if (content.type === 'template') return content;
  return content;
}

export function renderMessageText(state: EmulatorState, m: StoredMessage): string {
  const content = parseJson(m.content);
  switch (m.msgType) {
    case 'text': {
      let text = String(content.text ?? '');
      // Feishu shows @-placeholders as the mentioned names.
      for (const mention of m.mentions) text = text.split(mention.key).join(`@${mention.name}`);
      return text;
    }
    case 'post':
      return renderPostText(content);
    case 'interactive': {
      const card = currentCard(state, m);
      if (!card) return '';
      if (card.type === 'template') return '[template card]';
      return renderCardText(card);
    }
    case 'image':
      return '[image]';
    case 'file':
      return `[file: ${String(content.file_name ?? content.file_key ?? '')}]`;
    default:
      return typeof content.text === 'string' ? content.text : `[${m.msgType}]`;
  }
}

export function viewItem(state: EmulatorState, m: StoredMessage): ChatViewItem {
  const item: ChatViewItem = {
    messageId: m.messageId,
    from: m.senderType === 'app' ? 'bot' : 'user',
    senderId: m.senderId,
    msgType: m.msgType,
    text: renderMessageText(state, m),
    reactions: m.reactions.map((r) => ({ emoji: r.emoji, by: r.by })),
    updates: m.updates,
  };
  const card = currentCard(state, m);
  if (card) item.card = card;
  if (m.parentId) item.parentId = m.parentId;
  if (m.rootId) item.rootId = m.rootId;
  if (m.threadId) item.threadId = m.threadId;
  if (m.deleted) item.deleted = true;
  return item;
}

export function chatView(state: EmulatorState, chatId: string): ChatViewItem[] {
  return state.messageList.filter((m) => m.chatId === chatId).map((m) => viewItem(state, m));
}
