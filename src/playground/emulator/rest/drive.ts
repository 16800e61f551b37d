// drive.v1 comments: the comment a comment_add event points at, and the bot's replies.
import type { EmulatorCore } from '../core.js';
import { asObject, fail, ok, type Router } from '../http.js';
import { numericId } from '../ids.js';
import type { CommentReply, StoredComment } from '../types.js';

export const commentKey = (fileToken: string, commentId: string): string => `${fileToken}/${commentId}`;

function replyObject(r: CommentReply): Record<string, unknown> {
  return {
    reply_id: r.replyId,
    user_id: r.userId,
    create_time: Math.floor(r.createTime / 1000),
    update_time: Math.floor(r.createTime / 1000),
    content: r.content,
    extra: {},
  };
}

export function commentObject(c: StoredComment): Record<string, unknown> {
  return {
    comment_id: c.commentId,
    user_id: c.userId,
    create_time: Math.floor(c.createTime / 1000),
    update_time: Math.floor(c.createTime / 1000),
    is_solved: c.isSolved,
    is_whole: c.isWhole,
    has_more: false,
    quote: c.quote,
    reply_list: { replies: c.replies.map(replyObject) },
  };
}

export function registerDriveRoutes(router: Router, core: EmulatorCore): void {
  const { state } = core;
  const find = (fileToken: string, commentId: string) => state.comments.get(commentKey(fileToken, commentId));

  router.on('GET', '/open-apis/drive/v1/files/:file_token/comments/:comment_id', (ctx) => {
    const comment = find(ctx.params.file_token!, ctx.params.comment_id!);
    return comment ? ok(commentObject(comment)) : fail(404, 1069307, 'comment not found');
  });

  router.on('GET', '/open-apis/drive/v1/files/:file_token/comments', (ctx) => {
    const items = [...state.comments.values()]
      .filter((c) => c.fileToken === ctx.params.file_token)
      .map(commentObject);
    return ok({ has_more: false, page_token: '', items });
  });

  router.on('POST', '/open-apis/drive/v1/files/:file_token/comments/:comment_id/replies', (ctx) => {
    const comment = find(ctx.params.file_token!, ctx.params.comment_id!);
    if (!comment) return fail(404, 1069307, 'comment not found');
    if (comment.isWhole || comment.isSolved) return fail(400, 1069302, 'comment can not be replied');
    const content = asObject(asObject(ctx.json).content);
    const elements = Array.isArray(content.elements) ? (content.elements as Record<string, unknown>[]) : [];
    if (elements.length === 0) return fail(400, 1069301, 'content.elements is required');
    const reply: CommentReply = {
      replyId: numericId(),
      userId: core.botOpenId,
      createTime: Date.now(),
      content: { elements },
    };
    comment.replies.push(reply);
    return ok(replyObject(reply));
  });

  router.on('GET', '/open-apis/drive/v1/files/:file_token/comments/:comment_id/replies', (ctx) => {
    const comment = find(ctx.params.file_token!, ctx.params.comment_id!);
    if (!comment) return fail(404, 1069307, 'comment not found');
    return ok({ has_more: false, page_token: '', items: comment.replies.map(replyObject) });
  });

  router.on('POST', '/open-apis/drive/v1/files/:file_token/subscribe', () => ok({}));
}
