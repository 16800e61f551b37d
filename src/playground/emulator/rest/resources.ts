// im.v1 reactions, uploads / downloads and chat info.
import type { EmulatorCore } from '../core.js';
import { asObject, fail, ok, type Reply, type Router } from '../http.js';
import { hex } from '../ids.js';
import { type StoredResource, TENANT_KEY } from '../state.js';
import type { Reaction } from '../types.js';

function binary(resource: StoredResource): Reply {
  const headers: Record<string, string> = { 'content-type': resource.contentType };
  if (resource.fileName) {
    headers['content-disposition'] = `attachment; filename="${encodeURIComponent(resource.fileName)}"`;
  }
  return { status: 200, raw: resource.bytes, headers };
}

export function registerResourceRoutes(router: Router, core: EmulatorCore): void {
  const { state } = core;

  const reactionData = (r: Reaction): Record<string, unknown> => ({
    reaction_id: r.reactionId,
    operator: { operator_id: r.operatorType === 'app' ? core.appId : r.by, operator_type: r.operatorType },
    action_time: String(r.actionTime),
    reaction_type: { emoji_type: r.emoji },
  });

  router.on('POST', '/open-apis/im/v1/messages/:message_id/reactions', (ctx) => {
    const message = state.messagesById.get(ctx.params.message_id!);
    if (!message) return fail(400, 231001, 'reaction type or message id invalid');
    if (message.deleted) return fail(400, 231003, 'The message is not found, maybe not exist or deleted');
    const emoji = asObject(asObject(ctx.json).reaction_type).emoji_type;
    if (typeof emoji !== 'string' || !emoji) return fail(400, 231001, 'reaction type is invalid');
    const reaction: Reaction = {
      reactionId: `ZCaC${hex(24)}`,
      emoji,
      by: core.botOpenId,
      operatorType: 'app',
      actionTime: Date.now(),
    };
    message.reactions.push(reaction);
    return ok(reactionData(reaction));
  });

  router.on('DELETE', '/open-apis/im/v1/messages/:message_id/reactions/:reaction_id', (ctx) => {
    const message = state.messagesById.get(ctx.params.message_id!);
    const index = message?.reactions.findIndex((r) => r.reactionId === ctx.params.reaction_id) ?? -1;
    if (!message || index === -1) return fail(400, 231002, 'reaction not found');
    const [removed] = message.reactions.splice(index, 1);
    return ok(reactionData(removed!));
  });

  router.on('GET', '/open-apis/im/v1/messages/:message_id/reactions', (ctx) => {
    const message = state.messagesById.get(ctx.params.message_id!);
    if (!message) return fail(400, 231001, 'message id invalid');
    const filter = ctx.query.reaction_type;
    const items = message.reactions.filter((r) => !filter || r.emoji === filter).map(reactionData);
    return ok({ items, has_more: false, page_token: '' });
  });

  router.on('GET', '/open-apis/im/v1/messages/:message_id/resources/:file_key', (ctx) => {
    const key = `${ctx.params.message_id}/${ctx.params.file_key}`;
    const resource = state.messageResources.get(key);
    if (!resource) return fail(400, 234003, 'File not in msg.');
    return binary(resource);
  });

  router.on('POST', '/open-apis/im/v1/images', (ctx) => {
    const image = ctx.parts?.find((p) => p.name === 'image');
    if (!image || image.data.length === 0) return fail(400, 234001, 'Invalid request param: image is empty');
    const imageKey = `img_v3_${hex(12)}`;
    state.uploads.set(imageKey, { bytes: image.data, contentType: image.contentType ?? 'image/png' });
    return ok({ image_key: imageKey });
  });

  router.on('POST', '/open-apis/im/v1/files', (ctx) => {
    const file = ctx.parts?.find((p) => p.name === 'file');
    const fileName = ctx.parts?.find((p) => p.name === 'file_name')?.data.toString('utf8') ?? file?.filename;
    if (!file || file.data.length === 0) return fail(400, 234001, 'Invalid request param: file is empty');
    const fileKey = `file_v3_${hex(12)}`;
    state.uploads.set(fileKey, {
      bytes: file.data,
      contentType: file.contentType ?? 'application/octet-stream',
      fileName,
    });
    return ok({ file_key: fileKey });
  });

  router.on('GET', '/open-apis/im/v1/images/:image_key', (ctx) => {
    const resource = state.uploads.get(ctx.params.image_key!);
    return resource ? binary(resource) : fail(400, 234004, 'image not found');
  });

  router.on('GET', '/open-apis/im/v1/files/:file_key', (ctx) => {
    const resource = state.uploads.get(ctx.params.file_key!);
    return resource ? binary(resource) : fail(400, 234004, 'file not found');
  });

  router.on('GET', '/open-apis/im/v1/chats/:chat_id', (ctx) => {
    const chat = state.chats.get(ctx.params.chat_id!);
    if (!chat) return fail(400, 232011, 'chat not found or bot not in chat');
    const ownerId = chat.peerOpenId ?? [...state.users.keys()][0]!;
    return ok({
      chat_id: chat.chatId,
      chat_mode: chat.mode,
      chat_type: chat.mode === 'p2p' ? 'p2p' : 'private',
      group_message_type: chat.mode === 'topic' ? 'thread' : 'chat',
      name: chat.name,
      description: '',
      avatar: '',
      owner_id: ownerId,
      owner_id_type: 'open_id',
      external: false,
      tenant_key: TENANT_KEY,
      user_count: chat.mode === 'p2p' ? '1' : '2',
      bot_count: '1',
    });
  });
}
