import type { CardJson } from '../cards/run-card.js';
import type { FeishuApi } from './api.js';
import { ChatPacer } from './chat-pacer.js';
import type { FeishuPort, ReplyTarget } from './port.js';

interface SentMessage {
  message_id?: string;
}

/** FeishuPort over the node-sdk REST client; every send to a chat is paced under its QPS limit. */
export function createFeishuPort(api: FeishuApi, pacer = new ChatPacer()): FeishuPort {
  const reply = async (
    target: ReplyTarget,
    msgType: string,
    content: string,
    signal?: AbortSignal,
    options: { retry?: boolean; urgent?: boolean } = {},
  ) => {
    await pacer.slot(target.chatId, signal);
    const sent = await api.call<SentMessage>(
      'im.message.reply',
      () =>
        api.client.im.v1.message.reply({
          path: { message_id: target.messageId },
          data: { msg_type: msgType, content, ...(target.inThread ? { reply_in_thread: true } : {}) },
        }),
      signal,
      options,
    );
    return sent?.message_id ?? '';
  };

  const send = async (chatId: string, msgType: string, content: string, signal?: AbortSignal) => {
    await pacer.slot(chatId, signal);
    const sent = await api.call<SentMessage>(
      'im.message.create',
      () =>
        api.client.im.v1.message.create({
          params: { receive_id_type: 'chat_id' },
          data: { receive_id: chatId, msg_type: msgType, content },
        }),
      signal,
    );
    return sent?.message_id ?? '';
  };

  return {
    replyCard: (target, card: CardJson, signal) => reply(target, 'interactive', JSON.stringify(card), signal),
    replyText: (target, text, signal) => reply(target, 'text', JSON.stringify({ text }), signal),
    sendCard: (chatId, card, signal) => send(chatId, 'interactive', JSON.stringify(card), signal),
    sendText: (chatId, text, signal) => send(chatId, 'text', JSON.stringify({ text }), signal),
    replyCardOnce: (target, card, options = {}) =>
      reply(target, 'interactive', JSON.stringify(card), options.signal, {
        retry: false,
        urgent: options.urgent ?? false,
      }),
    patchCard: async (messageId, card, options = {}) => {
      await api.call(
        'im.message.patch',
        () =>
          api.client.im.v1.message.patch({
            path: { message_id: messageId },
            data: { content: JSON.stringify(card) },
          }),
        options.signal,
        { retry: false, urgent: options.urgent ?? false },
      );
    },
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
