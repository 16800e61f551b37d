// Public data shapes of the Feishu emulator. Other test code depends on these names.

export type ChatMode = 'p2p' | 'group' | 'topic';

export interface EmulatorOptions {
  /** 0 = random free port (default). */
  port?: number;
  /** Must match /^cli_[0-9a-f]{16}$/ or WSClient.start() silently does nothing. */
  appId?: string;
  appSecret?: string;
  botOpenId?: string;
  botName?: string;
  /** ClientConfig.PingInterval in seconds (default 120). */
  pingIntervalSec?: number;
  /** CardKit streaming_mode auto-close, ms since streaming was turned on (default 10 min). */
  streamingTimeoutMs?: number;
  /** Push messages the bot sends back as im.message.receive_v1 with sender_type 'app'. */
  echoBotMessages?: boolean;
  /** When false, limit breaches are still recorded as violations but the request succeeds. */
  enforceLimits?: boolean;
}

export interface Ack {
  code: number;
  data?: unknown;
}

export interface AckRecord extends Ack {
  frameMessageId: string;
  eventId?: string;
  eventType?: string;
  latencyMs: number;
  at: number;
}

export interface RecordedCall {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  /** Parsed JSON, a multipart summary, raw text, or undefined. */
  body: unknown;
  status: number;
  /** Parsed JSON response, or a summary like { binary: N } for downloads. */
  response: unknown;
  at: number;
}

export type LimitViolationKind =
  | 'chat_send_rate'
  | 'message_patch_rate'
  | 'card_ops_rate'
  | 'card_sequence'
  | 'card_size'
  | 'message_size'
  | 'card_elements'
  | 'card_tables'
  | 'streaming_closed'
  | 'streaming_timeout'
  | 'callback_timeout'
  | 'card_resend';

export interface LimitViolation {
  kind: LimitViolationKind;
  detail: string;
  at: number;
  path: string;
}

export interface Reaction {
  reactionId: string;
  emoji: string;
  by: string;
  operatorType: 'app' | 'user';
  actionTime: number;
}

export interface MentionRecord {
  key: string;
  openId: string;
  name: string;
}

export interface StoredMessage {
  messageId: string;
  chatId: string;
  msgType: string;
  /** JSON string exactly as Feishu stores it. */
  content: string;
  senderId: string;
  senderType: 'user' | 'app';
  rootId?: string;
  parentId?: string;
  threadId?: string;
  /** Set when the message was sent by card_id: the view renders the live CardKit entity. */
  cardId?: string;
  mentions: MentionRecord[];
  reactions: Reaction[];
  createTime: number;
  updateTime: number;
  /** Edits (PUT), patches (PATCH) and callback card replacements. */
  updates: number;
  deleted: boolean;
}

export interface CardEntity {
  cardId: string;
  json: Record<string, unknown>;
  /** Last accepted sequence (0 before any op). */
  sequence: number;
  streamingMode: boolean;
  /** Date.now() when streaming was last turned on. */
  streamingSince?: number;
  /** message_id once sent (an entity may be sent only once). */
  messageId?: string;
  ops: CardOpRecord[];
  createdAt: number;
}

export interface CardOpRecord {
  op: string;
  sequence?: number;
  elementId?: string;
  ok: boolean;
  code: number;
  at: number;
}

export interface ChatRecord {
  chatId: string;
  mode: ChatMode;
  name: string;
  /** For p2p chats: the user on the other side. */
  peerOpenId?: string;
  createdAt: number;
}

export interface ChatViewItem {
  messageId: string;
  from: 'user' | 'bot';
  senderId: string;
  msgType: string;
  text: string;
  card?: object;
  parentId?: string;
  rootId?: string;
  threadId?: string;
  reactions: { emoji: string; by: string }[];
  updates: number;
  deleted?: boolean;
}

export interface PushMessageParams {
  chatId?: string;
  chatType?: 'p2p' | 'group';
  chatMode?: ChatMode;
  senderOpenId?: string;
  text?: string;
  msgType?: string;
  content?: object | string;
  mentionBot?: boolean;
  mentions?: { openId: string; name: string }[];
  threadId?: string;
  rootId?: string;
  parentId?: string;
  messageId?: string;
  eventId?: string;
  times?: number;
  fragments?: number;
}

export interface PushMessageResult {
  messageId: string;
  eventId: string;
  chatId: string;
  threadId?: string;
  acks: Ack[];
}

export interface PushCardActionParams {
  operatorOpenId?: string;
  messageId: string;
  chatId?: string;
  value: object;
  tag?: string;
  name?: string;
  formValue?: object;
  times?: number;
}

export interface CardCallbackRecord {
  eventId: string;
  messageId: string;
  value: object;
  ack: Ack;
  latencyMs: number;
  toast?: unknown;
  card?: unknown;
  at: number;
}

export interface PushCommentParams {
  fileToken?: string;
  fileType?: string;
  commentId?: string;
  fromOpenId?: string;
  text: string;
  isMentioned?: boolean;
}

export interface PushCommentResult {
  fileToken: string;
  commentId: string;
  replyId: string;
  eventId: string;
  acks: Ack[];
}

export interface PushRawOptions {
  times?: number;
  fragments?: number;
  frameType?: 'event' | 'card';
  /** How long to wait for each ack (default 15 s; 300 ms for 'card' frames, which the SDK never acks). */
  ackTimeoutMs?: number;
  /** How long to wait for a connected, pinged client before failing (default 10 s). */
  clientWaitMs?: number;
}

export interface CommentReply {
  replyId: string;
  userId: string;
  createTime: number;
  content: { elements: Record<string, unknown>[] };
}

export interface StoredComment {
  fileToken: string;
  fileType: string;
  commentId: string;
  userId: string;
  createTime: number;
  isSolved: boolean;
  isWhole: boolean;
  quote: string;
  replies: CommentReply[];
}

export interface FaultSpec {
  method?: string;
  path: RegExp;
  status?: number;
  code?: number;
  msg?: string;
  headers?: Record<string, string>;
  /** How many matching requests to affect (default 1; -1 = until cleared). */
  times?: number;
  delayMs?: number;
}

export interface EmulatorStatus {
  url: string;
  connectedClients: number;
  readyClients: number;
  firstPingSeen: boolean;
  pingsReceived: number;
  pongsSent: number;
}
