import type { CardJson } from '../cards/run-card.js';
import type { FeishuApi } from './api.js';
import type { FeishuPort, ReplyTarget } from './port.js';

interface SentMessage {
  message_id?: string;
}

/** FeishuPort over the node-sdk REST client. */
export function createFeishuPort(api: FeishuApi): FeishuPort {
  const reply = async (target: ReplyTarget, msgType: string, content: string, signal?: AbortSignal) => {
    const sent = await api.call<SentMessage>(
      'im.message.reply',
      () =>
        api.client.im.v1.message.reply({
          path: { message_id: target.messageId },
          data: { msg_type: msgType, content, ...(target.inThread ? { reply_in_thread: true } : {}) },
        }),
      signal,
    );
    return sent?.message_id ?? '';
  };

  return {
    replyCard: (target, card: CardJson, signal) => reply(target, 'interactive', JSON.stringify(card), signal),
    replyText: (target, text, signal) => reply(target, 'text', JSON.stringify({ text }), signal),
    addReaction: async (messageId, emojiType) => {
      const added = await api.call<{ reaction_id?: string }>('im.messageReaction.create', () =>
        api.client.im.v1.messageReaction.create({
          path: { message_id: messageId },
          data: { reaction_type: { emoji_type: emojiType } },
        }),
      );
      return added?.reaction_id ?? '';
    },
  };
}
