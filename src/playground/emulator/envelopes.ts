// Schema 2.0 event envelopes, shaped like the SDK's d.ts and the Feishu docs (research §3.2–3.4).
import { hex } from './ids.js';
import { type EmulatorState, TENANT_KEY } from './state.js';
import type { ChatMode, StoredMessage } from './types.js';

export const VERIFICATION_TOKEN = 'emu-verification-token';

function header(eventType: string, eventId: string, appId: string): Record<string, string> {
  return {
    event_id: eventId,
    token: VERIFICATION_TOKEN,
    create_time: String(Date.now()),
    event_type: eventType,
    tenant_key: TENANT_KEY,
    app_id: appId,
  };
}

function userIds(state: EmulatorState, openId: string): Record<string, string> {
  const user = state.ensureUser(openId);
  return { union_id: user.unionId, user_id: user.userId, open_id: user.openId };
}

export function messageReceiveEnvelope(
  state: EmulatorState,
  appId: string,
  eventId: string,
  m: StoredMessage,
  chatMode: ChatMode,
): Record<string, unknown> {
  const senderId =
    m.senderType === 'app' ? { union_id: '', user_id: '', open_id: m.senderId } : userIds(state, m.senderId);
  const message: Record<string, unknown> = {
    message_id: m.messageId,
    create_time: String(m.createTime),
    update_time: String(m.updateTime),
    chat_id: m.chatId,
    chat_type: chatMode === 'p2p' ? 'p2p' : 'group',
    message_type: m.msgType,
    content: m.content,
    user_agent: 'Mozilla/5.0 (Macintosh) Lark/7.30.0 (emulator)',
  };
  if (m.rootId) message.root_id = m.rootId;
  if (m.parentId) message.parent_id = m.parentId;
  if (m.threadId) message.thread_id = m.threadId;
  if (m.mentions.length > 0) {
    message.mentions = m.mentions.map((mention) => ({
      key: mention.key,
      id:
        mention.openId === state.botOpenId
          ? { union_id: `on_${hex(8)}`, user_id: '', open_id: mention.openId }
          : userIds(state, mention.openId),
      name: mention.name,
      tenant_key: TENANT_KEY,
    }));
  }
  return {
    schema: '2.0',
    header: header('im.message.receive_v1', eventId, appId),
    event: {
      sender: { sender_id: senderId, sender_type: m.senderType, tenant_key: TENANT_KEY },
      message,
    },
  };
}

export function cardActionEnvelope(
  state: EmulatorState,
  appId: string,
  eventId: string,
  p: {
    operatorOpenId: string;
    messageId: string;
    chatId: string;
    value: object;
    tag: string;
    name?: string;
    formValue?: object;
  },
): Record<string, unknown> {
  const action: Record<string, unknown> = { value: p.value, tag: p.tag, timezone: 'Asia/Shanghai' };
  if (p.name !== undefined) action.name = p.name;
  if (p.formValue !== undefined) action.form_value = p.formValue;
  return {
    schema: '2.0',
    header: header('card.action.trigger', eventId, appId),
    event: {
      operator: { tenant_key: TENANT_KEY, ...userIds(state, p.operatorOpenId) },
      token: `c-${hex(20)}`,
      action,
      host: 'im_message',
      context: { open_message_id: p.messageId, open_chat_id: p.chatId },
    },
  };
}

export function commentAddEnvelope(
  state: EmulatorState,
  appId: string,
  eventId: string,
  p: {
    fileToken: string;
    fileType: string;
    commentId: string;
    replyId: string;
    fromOpenId: string;
    isMentioned: boolean;
    noticeType: 'add_comment' | 'add_reply';
  },
): Record<string, unknown> {
  return {
    schema: '2.0',
    header: header('drive.notice.comment_add_v1', eventId, appId),
    event: {
      comment_id: p.commentId,
      reply_id: p.replyId,
      is_mentioned: p.isMentioned,
      notice_meta: {
        file_token: p.fileToken,
        file_type: p.fileType,
        notice_type: p.noticeType,
        from_user_id: userIds(state, p.fromOpenId),
        to_user_id: { open_id: state.botOpenId, union_id: '', user_id: '' },
        timestamp: String(Date.now()),
        is_mentioned: p.isMentioned,
      },
    },
  };
}
