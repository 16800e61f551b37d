// im.v1 messages: create / reply / patch / update / get / delete / list.
import { utf8Bytes } from '../card.js';
import { cardLimitError } from '../card-limits.js';
import { breach, type EmulatorCore } from '../core.js';
import { asObject, fail, ok, type Reply, type RequestContext, type Router } from '../http.js';
import { newThreadId } from '../ids.js';
import { LIMITS } from '../limits.js';
import type { ChatRecord, StoredMessage } from '../types.js';

const TEXT_MAX_BYTES = 150 * 1024;

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

export const cardErr = (subCode: number, subMsg: string): Reply =>
  fail(
    400,
    230099,
    `Failed to create card content, ext=ErrCode: ${subCode}; ErrMsg: ${subMsg}; ErrorValue: ;`,
  );

const tooLong = (): Reply => fail(400, 230025, 'The length of the message content reaches its limit');

/** Content checks shared by create, reply and patch. Returns an error reply or the card_id to link. */
function checkContent(
  core: EmulatorCore,
  msgType: string,
  content: string,
  path: string,
  allowCardId: boolean,
): { error?: Reply; cardId?: string } {
  const bytes = utf8Bytes(content);
  if (msgType === 'text' && bytes > TEXT_MAX_BYTES) {
    const error = breach(
      core,
      'message_size',
      `text content ${bytes} B > ${TEXT_MAX_BYTES} B`,
      path,
      tooLong(),
    );
    if (error) return { error };
  }
  if (msgType === 'post' && bytes > LIMITS.messageContentBytes) {
    const error = breach(
      core,
      'message_size',
      `post content ${bytes} B > ${LIMITS.messageContentBytes} B`,
      path,
      tooLong(),
    );
    if (error) return { error };
  }
  if (msgType !== 'interactive') return {};
  const card = parseJsonObject(content);
  if (!card) return { error: fail(400, 230001, 'invalid message content: card is not a JSON object') };
  if (card.type === 'card') {
    const cardId = String(asObject(card.data).card_id ?? '');
    if (!allowCardId) return { error: fail(400, 230001, 'patch does not accept card_id content') };
    const entity = core.state.cards.get(cardId);
    if (!entity) return { error: cardErr(200740, `card not found: ${cardId}`) };
    if (entity.messageId) {
      const error = breach(
        core,
        'card_resend',
        `card ${cardId} already sent as ${entity.messageId}`,
        path,
        cardErr(200220, 'card entity has already been sent'),
      );
      if (error) return { error };
    }
    return { cardId };
  }
  if (card.type === 'template') return {};
  const error = cardLimitError(core, card, path, {
    bytes,
    maxBytes: LIMITS.messageContentBytes,
    sizeLabel: 'card content',
    tooBig: tooLong(),
    tooManyElements: cardErr(11310, 'element exceeds the limit'),
    tooManyTables: cardErr(11310, 'card table number over limit'),
  });
  if (error) return { error };
  return {};
}

function checkSendRate(core: EmulatorCore, chatId: string, path: string): Reply | undefined {
  const sent = core.state.rates.count(`send:${chatId}`);
  if (sent < LIMITS.chatSendsPerSecond) return undefined;
  return breach(
    core,
    'chat_send_rate',
    `chat ${chatId}: ${sent + 1} sends within 1 s (limit ${LIMITS.chatSendsPerSecond})`,
    path,
    fail(400, 230020, 'This operation triggers the frequency limit'),
  );
}

function readSendBody(ctx: RequestContext): { msgType: string; content: string } | Reply {
  const body = asObject(ctx.json);
  const msgType = typeof body.msg_type === 'string' ? body.msg_type : '';
  const content = typeof body.content === 'string' ? body.content : '';
  if (!msgType || !content) return fail(400, 230001, 'invalid request: msg_type and content are required');
  if (!parseJsonObject(content))
    return fail(400, 230001, 'invalid message content: content must be a JSON string');
  return { msgType, content };
}

function resolveReceiveChat(core: EmulatorCore, ctx: RequestContext): ChatRecord | Reply {
  const body = asObject(ctx.json);
  const receiveId = String(body.receive_id ?? '');
  const idType = ctx.query.receive_id_type ?? '';
  if (idType === 'chat_id') {
    const chat = core.state.chats.get(receiveId);
    return chat ?? fail(400, 230002, 'Bot/User can NOT be out of the chat.');
  }
  if (idType === 'open_id') {
    if (!/^ou_/.test(receiveId)) return fail(400, 230001, 'invalid receive_id');
    return core.state.p2pChatFor(receiveId);
  }
  return fail(400, 230001, `unsupported receive_id_type in emulator: ${idType}`);
}

function mentionsIn(content: string, msgType: string): StoredMessage['mentions'] {
  if (msgType !== 'text') return [];
  const text = String(parseJsonObject(content)?.text ?? '');
  const mentions: StoredMessage['mentions'] = [];
  for (const m of text.matchAll(/<at user_id="([^"]+)">([^<]*)<\/at>/g)) {
    mentions.push({ key: `@_user_${mentions.length + 1}`, openId: m[1]!, name: m[2]! });
  }
  return mentions;
}

export function registerMessageRoutes(router: Router, core: EmulatorCore): void {
  const { state } = core;

  const getMessage = (id: string): StoredMessage | Reply => {
    const m = state.messagesById.get(id);
    if (!m) return fail(400, 230001, `invalid message_id: ${id}`);
    return m;
  };

  const finishSend = (
    chat: ChatRecord,
    msgType: string,
    content: string,
    cardId: string | undefined,
    thread: Pick<StoredMessage, 'rootId' | 'parentId' | 'threadId'>,
  ): Reply => {
    state.rates.record(`send:${chat.chatId}`);
    const message = state.addMessage({
      chatId: chat.chatId,
      msgType,
      content,
      senderId: core.botOpenId,
      senderType: 'app',
      cardId,
      mentions: mentionsIn(content, msgType),
      ...thread,
    });
    if (cardId) state.cards.get(cardId)!.messageId = message.messageId;
    core.onBotMessage(message);
    return ok(state.messageObject(message));
  };

  router.on('POST', '/open-apis/im/v1/messages', (ctx) => {
    const chat = resolveReceiveChat(core, ctx);
    if ('status' in chat) return chat;
    const send = readSendBody(ctx);
    if ('status' in send) return send;
    const rateError = checkSendRate(core, chat.chatId, ctx.path);
    if (rateError) return rateError;
    const checked = checkContent(core, send.msgType, send.content, ctx.path, true);
    if (checked.error) return checked.error;
    // In a topic chat every new root message opens a topic.
    const thread = chat.mode === 'topic' ? { threadId: newThreadId() } : {};
    return finishSend(chat, send.msgType, send.content, checked.cardId, thread);
  });

  router.on('POST', '/open-apis/im/v1/messages/:message_id/reply', (ctx) => {
    const target = getMessage(ctx.params.message_id!);
    if ('status' in target) return target;
    if (target.deleted) return fail(400, 230011, 'The message was withdrawn.');
    const chat = state.chats.get(target.chatId)!;
    const send = readSendBody(ctx);
    if ('status' in send) return send;
    const rateError = checkSendRate(core, chat.chatId, ctx.path);
    if (rateError) return rateError;
    const checked = checkContent(core, send.msgType, send.content, ctx.path, true);
    if (checked.error) return checked.error;
    const replyInThread = asObject(ctx.json).reply_in_thread === true;
    const rootId = target.rootId ?? target.messageId;
    let threadId = target.threadId;
    // A reply to a message already in a topic stays in it; reply_in_thread opens one on the target.
    if (!threadId && (replyInThread || chat.mode === 'topic')) {
      const root = state.messagesById.get(rootId) ?? target;
      threadId = root.threadId ?? newThreadId();
      root.threadId = threadId;
      target.threadId = threadId;
    }
    return finishSend(chat, send.msgType, send.content, checked.cardId, {
      rootId,
      parentId: threadId ? rootId : target.messageId,
      threadId,
    });
  });

  router.on('PATCH', '/open-apis/im/v1/messages/:message_id', (ctx) => {
    const target = getMessage(ctx.params.message_id!);
    if ('status' in target) return target;
    if (target.deleted) return fail(400, 230011, 'The message was withdrawn.');
    if (target.msgType !== 'interactive') return fail(400, 230001, 'only card messages can be patched');
    if (target.senderType !== 'app') return fail(400, 230027, 'Lack of necessary permissions');
    const content = asObject(ctx.json).content;
    if (typeof content !== 'string') return fail(400, 230001, 'content is required');
    const patches = state.rates.count(`patch:${target.messageId}`);
    if (patches >= LIMITS.messagePatchesPerSecond) {
      const error = breach(
        core,
        'message_patch_rate',
        `message ${target.messageId}: ${patches + 1} patches within 1 s (limit ${LIMITS.messagePatchesPerSecond})`,
        ctx.path,
        fail(400, 230020, 'This operation triggers the frequency limit'),
      );
      if (error) return error;
    }
    const checked = checkContent(core, 'interactive', content, ctx.path, false);
    if (checked.error) return checked.error;
    state.rates.record(`patch:${target.messageId}`);
    target.content = content;
    // The patched card replaces whatever the message showed, including a CardKit entity.
    target.cardId = undefined;
    target.updates++;
    target.updateTime = Date.now();
    return ok({});
  });

  router.on('PUT', '/open-apis/im/v1/messages/:message_id', (ctx) => {
    const target = getMessage(ctx.params.message_id!);
    if ('status' in target) return target;
    if (target.deleted) return fail(400, 230011, 'The message was withdrawn.');
    if (target.senderType !== 'app') return fail(400, 230027, 'Lack of necessary permissions');
    const send = readSendBody(ctx);
    if ('status' in send) return send;
    if (!['text', 'post'].includes(send.msgType) || !['text', 'post'].includes(target.msgType)) {
      return fail(400, 230001, 'only text and post messages can be edited');
    }
    const checked = checkContent(core, send.msgType, send.content, ctx.path, false);
    if (checked.error) return checked.error;
    target.msgType = send.msgType;
    target.content = send.content;
    target.updates++;
    target.updateTime = Date.now();
    return ok(state.messageObject(target));
  });

  router.on('GET', '/open-apis/im/v1/messages/:message_id', (ctx) => {
    const target = getMessage(ctx.params.message_id!);
    if ('status' in target) return target;
    return ok({ items: [state.messageObject(target)] });
  });

  router.on('DELETE', '/open-apis/im/v1/messages/:message_id', (ctx) => {
    const target = getMessage(ctx.params.message_id!);
    if ('status' in target) return target;
    if (target.deleted) return fail(400, 230011, 'The message was withdrawn.');
    target.deleted = true;
    target.updateTime = Date.now();
    return ok({});
  });

  router.on('GET', '/open-apis/im/v1/messages', (ctx) => {
    const type = ctx.query.container_id_type;
    const id = ctx.query.container_id ?? '';
    const items = state.messageList.filter((m) => (type === 'thread' ? m.threadId === id : m.chatId === id));
    if (ctx.query.sort_type === 'ByCreateTimeDesc') items.reverse();
    return ok({ has_more: false, page_token: '', items: items.map((m) => state.messageObject(m)) });
  });
}
