import type { CardJson } from '../cards/run-card.js';
import type { FeishuApi } from './api.js';
import { ChatPacer } from './chat-pacer.js';
import type { FeishuPort, ReplyTarget, WriteOptions } from './port.js';

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
    options: { retry?: boolean; urgent?: boolean; noWait?: boolean } = {},
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

  const cardEntityContent = (cardId: string) => JSON.stringify({ type: 'card', data: { card_id: cardId } });
  // Card writes never retry here (the renderer coalesces); live ones never wait for the budget.
  const once = (options: WriteOptions) => ({
    retry: false,
    urgent: options.urgent ?? false,
    noWait: !options.urgent,
  });

  return {
    replyCard: (target, card: CardJson, signal) => reply(target, 'interactive', JSON.stringify(card), signal),
    replyText: (target, text, signal) => reply(target, 'text', JSON.stringify({ text }), signal),
    sendCard: (chatId, card, signal) => send(chatId, 'interactive', JSON.stringify(card), signal),
    sendText: (chatId, text, signal) => send(chatId, 'text', JSON.stringify({ text }), signal),
    replyCardOnce: (target, card, options = {}) =>
      reply(target, 'interactive', JSON.stringify(card), options.signal, once(options)),
    patchCard: async (messageId, card, options = {}) => {
      await api.call(
        'im.message.patch',
        () =>
          api.client.im.v1.message.patch({
            path: { message_id: messageId },
            data: { content: JSON.stringify(card) },
          }),
        options.signal,
        once(options),
      );
    },
    replyMarkdown: (target, markdown, signal) =>
      reply(
        target,
        'post',
        JSON.stringify({ zh_cn: { content: [[{ tag: 'md', text: markdown }]] } }),
        signal,
      ),
    createCardEntity: async (card, options = {}) => {
      const created = await api.call<{ card_id?: string }>(
        'cardkit.card.create',
        () => api.client.cardkit.v1.card.create({ data: { type: 'card_json', data: JSON.stringify(card) } }),
        options.signal,
        once(options),
      );
      if (!created?.card_id) throw new Error('cardkit.card.create answered without a card_id');
      return created.card_id;
    },
    replyCardEntity: (target, cardId, options = {}) =>
      reply(target, 'interactive', cardEntityContent(cardId), options.signal, once(options)),
    sendCardEntity: async (chatId, cardId, options = {}) => {
      await pacer.slot(chatId, options.signal);
      const sent = await api.call<SentMessage>(
        'im.message.create',
        () =>
          api.client.im.v1.message.create({
            params: { receive_id_type: 'chat_id' },
            data: { receive_id: chatId, msg_type: 'interactive', content: cardEntityContent(cardId) },
          }),
        options.signal,
        once(options),
      );
      return sent?.message_id ?? '';
    },
    updateCardEntity: async (cardId, card, sequence, options = {}) => {
      await api.call(
        'cardkit.card.update',
        () =>
          api.client.cardkit.v1.card.update({
            path: { card_id: cardId },
            data: { card: { type: 'card_json', data: JSON.stringify(card) }, sequence },
          }),
        options.signal,
        once(options),
      );
    },
    streamCardText: async (cardId, elementId, text, sequence, options = {}) => {
      await api.call(
        'cardkit.cardElement.content',
        () =>
          api.client.cardkit.v1.cardElement.content({
            path: { card_id: cardId, element_id: elementId },
            data: { content: text, sequence },
          }),
        options.signal,
        once(options),
      );
    },
    setCardStreaming: async (cardId, settings, sequence, options = {}) => {
      const config = {
        streaming_mode: settings.streaming,
        ...(settings.summary !== undefined ? { summary: { content: settings.summary } } : {}),
      };
      await api.call(
        'cardkit.card.settings',
        () =>
          api.client.cardkit.v1.card.settings({
            path: { card_id: cardId },
            data: { settings: JSON.stringify({ config }), sequence },
          }),
        options.signal,
        once(options),
      );
    },
    removeReaction: async (messageId, reactionId) => {
      await api.call('im.messageReaction.delete', () =>
        api.client.im.v1.messageReaction.delete({
          path: { message_id: messageId, reaction_id: reactionId },
        }),
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
