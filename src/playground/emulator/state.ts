// In-memory Feishu state shared by the REST handlers, the event pushers and the view.
import { newChatId, newMessageId, newOpenId } from './ids.js';
import { RateWindows } from './limits.js';
import type {
  AckRecord,
  CardCallbackRecord,
  CardEntity,
  ChatMode,
  ChatRecord,
  LimitViolation,
  LimitViolationKind,
  MentionRecord,
  RecordedCall,
  StoredComment,
  StoredMessage,
} from './types.js';

export const DEFAULT_USER_OPEN_ID = 'ou_0000000000000000000000000000a11c';
export const DEFAULT_USER_NAME = 'Owner';
export const TENANT_KEY = '2ca1d211f64f6438';

export interface UserRecord {
  openId: string;
  unionId: string;
  userId: string;
  name: string;
}

export interface StoredResource {
  bytes: Buffer;
  contentType: string;
  fileName?: string;
}

export class EmulatorState {
  readonly chats = new Map<string, ChatRecord>();
  readonly messageList: StoredMessage[] = [];
  readonly messagesById = new Map<string, StoredMessage>();
  readonly users = new Map<string, UserRecord>();
  readonly cards = new Map<string, CardEntity>();
  readonly comments = new Map<string, StoredComment>();
  /** Bot uploads by image_key / file_key. */
  readonly uploads = new Map<string, StoredResource>();
  /** Resources attached to received messages, keyed `${messageId}/${fileKey}`. */
  readonly messageResources = new Map<string, StoredResource>();
  readonly calls: RecordedCall[] = [];
  readonly violations: LimitViolation[] = [];
  readonly acks: AckRecord[] = [];
  readonly cardCallbacks: CardCallbackRecord[] = [];
  readonly tokens = new Set<string>();
  readonly rates = new RateWindows();
  /** Default chat per mode for pushes without chatId (p2p chats are per user instead). */
  private readonly defaultChats = new Map<ChatMode, string>();

  constructor(
    readonly botOpenId: string,
    readonly botName: string,
  ) {
    this.ensureUser(DEFAULT_USER_OPEN_ID, DEFAULT_USER_NAME);
  }

  ensureUser(openId: string, name?: string): UserRecord {
    let user = this.users.get(openId);
    if (!user) {
      const suffix = openId.replace(/^ou_/, '').slice(0, 12);
      user = {
        openId,
        unionId: `on_${suffix}`,
        userId: `u_${suffix}`,
        name: name ?? `User ${suffix.slice(0, 6)}`,
      };
      this.users.set(openId, user);
    } else if (name) {
      user.name = name;
    }
    return user;
  }

  createChat(p: { chatId?: string; mode: ChatMode; name?: string; peerOpenId?: string }): ChatRecord {
    const chatId = p.chatId ?? newChatId();
    const existing = this.chats.get(chatId);
    if (existing) return existing;
    const chat: ChatRecord = {
      chatId,
      mode: p.mode,
      name: p.name ?? (p.mode === 'p2p' ? '' : `Emu ${p.mode} ${chatId.slice(3, 9)}`),
      peerOpenId: p.peerOpenId,
      createdAt: Date.now(),
    };
    this.chats.set(chatId, chat);
    return chat;
  }

  /** The p2p chat between the bot and `openId`, created on first use. */
  p2pChatFor(openId: string): ChatRecord {
    for (const chat of this.chats.values()) {
      if (chat.mode === 'p2p' && chat.peerOpenId === openId) return chat;
    }
    this.ensureUser(openId);
    return this.createChat({ mode: 'p2p', peerOpenId: openId });
  }

  defaultChat(mode: Exclude<ChatMode, 'p2p'>): ChatRecord {
    const id = this.defaultChats.get(mode);
    if (id) return this.chats.get(id)!;
    const chat = this.createChat({ mode });
    this.defaultChats.set(mode, chat.chatId);
    return chat;
  }

  addMessage(
    p: Omit<
      StoredMessage,
      'messageId' | 'reactions' | 'createTime' | 'updateTime' | 'updates' | 'deleted'
    > & {
      messageId?: string;
    },
  ): StoredMessage {
    const now = Date.now();
    const message: StoredMessage = {
      ...p,
      messageId: p.messageId ?? newMessageId(),
      reactions: [],
      createTime: now,
      updateTime: now,
      updates: 0,
      deleted: false,
    };
    this.messageList.push(message);
    this.messagesById.set(message.messageId, message);
    return message;
  }

  violation(kind: LimitViolationKind, detail: string, path: string): void {
    this.violations.push({ kind, detail, at: Date.now(), path });
  }

  /** Feishu's message object (im.v1.message.get / create / reply responses). */
  messageObject(m: StoredMessage): Record<string, unknown> {
    return {
      message_id: m.messageId,
      root_id: m.rootId ?? '',
      parent_id: m.parentId ?? '',
      thread_id: m.threadId ?? '',
      msg_type: m.msgType,
      create_time: String(m.createTime),
      update_time: String(m.updateTime),
      deleted: m.deleted,
      updated: m.updates > 0,
      chat_id: m.chatId,
      sender: {
        id: m.senderType === 'app' ? this.appIdForSender : m.senderId,
        id_type: m.senderType === 'app' ? 'app_id' : 'open_id',
        sender_type: m.senderType,
        tenant_key: TENANT_KEY,
      },
      body: { content: m.content },
      mentions: m.mentions.map((mention) => ({
        key: mention.key,
        id: mention.openId,
        id_type: 'open_id',
        name: mention.name,
        tenant_key: TENANT_KEY,
      })),
    };
  }

  /** Set by the emulator: bot messages report the app id as sender, as Feishu does. */
  appIdForSender = '';

  mentionsFor(openIds: { openId: string; name: string }[]): MentionRecord[] {
    return openIds.map((m, i) => ({ key: `@_user_${i + 1}`, openId: m.openId, name: m.name }));
  }

  newUserId(): string {
    return newOpenId();
  }
}
