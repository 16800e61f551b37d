// The emulator: HTTP server (REST + control API), WS gateway, state, faults and event pushers.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { handleControlRequest } from './control-api.js';
import type { EmulatorCore } from './core.js';
import { cardActionEnvelope, commentAddEnvelope, messageReceiveEnvelope } from './envelopes.js';
import { parseMultipart, type Reply, type RequestContext, Router, readBody } from './http.js';
import { hex, newEventId, numericId } from './ids.js';
import { LIMITS } from './limits.js';
import { registerAuthRoutes } from './rest/auth.js';
import { refreshStreaming, registerCardkitRoutes } from './rest/cardkit.js';
import { commentKey, registerDriveRoutes } from './rest/drive.js';
import { registerMessageRoutes } from './rest/messages.js';
import { registerResourceRoutes } from './rest/resources.js';
import { DEFAULT_USER_OPEN_ID, EmulatorState } from './state.js';
import type {
  Ack,
  AckRecord,
  CardCallbackRecord,
  CardEntity,
  ChatMode,
  ChatRecord,
  ChatViewItem,
  EmulatorOptions,
  EmulatorStatus,
  FaultSpec,
  LimitViolation,
  PushCardActionParams,
  PushCommentParams,
  PushCommentResult,
  PushMessageParams,
  PushMessageResult,
  PushRawOptions,
  RecordedCall,
  StoredComment,
  StoredMessage,
} from './types.js';
import { chatView } from './view.js';
import { type ClientConfig, WsGateway } from './ws-gateway.js';

export const DEFAULT_APP_ID = 'cli_a1b2c3d4e5f60718';
export const DEFAULT_APP_SECRET = 'emu-secret';
export const DEFAULT_BOT_OPEN_ID = 'ou_b0700000000000000000000000000b07';
export const DEFAULT_BOT_NAME = 'EmuBot';

interface ActiveFault {
  id: string;
  spec: FaultSpec;
  remaining: number;
}

// Paths that need no tenant token.
const UNAUTHENTICATED = new Set(['/open-apis/auth/v3/tenant_access_token/internal', '/callback/ws/endpoint']);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface WaitForOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

export async function waitFor<T>(
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  opts: WaitForOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const suffix = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`waitFor timed out after ${timeoutMs} ms${suffix}`);
    }
    await sleep(opts.intervalMs ?? 20);
  }
}

export class FeishuEmulator implements EmulatorCore {
  readonly appId: string;
  readonly appSecret: string;
  readonly botOpenId: string;
  readonly botName: string;
  readonly enforceLimits: boolean;
  readonly streamingTimeoutMs: number;
  readonly echoBotMessages: boolean;
  readonly state: EmulatorState;
  readonly clientConfig: ClientConfig;
  url = '';

  private readonly server: Server;
  private readonly gateway: WsGateway;
  private readonly router = new Router();
  private faults: ActiveFault[] = [];
  private nextFaultId = 1;

  constructor(opts: EmulatorOptions = {}) {
    this.appId = opts.appId ?? DEFAULT_APP_ID;
    if (!/^cli_[0-9a-f]{16}$/.test(this.appId)) {
      throw new Error(`appId must match /^cli_[0-9a-f]{16}$/ (the SDK ignores others): ${this.appId}`);
    }
    this.appSecret = opts.appSecret ?? DEFAULT_APP_SECRET;
    this.botOpenId = opts.botOpenId ?? DEFAULT_BOT_OPEN_ID;
    this.botName = opts.botName ?? DEFAULT_BOT_NAME;
    this.enforceLimits = opts.enforceLimits ?? true;
    this.streamingTimeoutMs = opts.streamingTimeoutMs ?? 10 * 60 * 1000;
    this.echoBotMessages = opts.echoBotMessages ?? false;
    this.state = new EmulatorState(this.botOpenId, this.botName);
    this.state.appIdForSender = this.appId;
    this.gateway = new WsGateway(opts.pingIntervalSec ?? 120);
    this.clientConfig = this.gateway.clientConfig;
    registerAuthRoutes(this.router, this);
    registerMessageRoutes(this.router, this);
    registerResourceRoutes(this.router, this);
    registerCardkitRoutes(this.router, this);
    registerDriveRoutes(this.router, this);
    this.server = createServer((req, res) => {
      this.onRequest(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 500, msg: `emulator error: ${String(error)}` }));
      });
    });
    this.server.on('upgrade', (req, socket, head) => this.gateway.handleUpgrade(req, socket, head));
  }

  async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve());
    });
    const address = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${address.port}`;
  }

  issueWsUrl(): string {
    return this.gateway.issueUrl(this.url);
  }

  // ---------------------------------------------------------------- HTTP

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const rawBody = await readBody(req);
    if (url.pathname.startsWith('/_emu/')) {
      const reply = await handleControlRequest(this, req.method ?? 'GET', url, rawBody);
      this.send(res, reply);
      return;
    }
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[key] = Array.isArray(value) ? value.join(', ') : value;
    }
    const ctx: RequestContext = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      params: {},
      rawBody,
      json: undefined,
    };
    let recordedBody: unknown;
    const contentType = headers['content-type'] ?? '';
    if (contentType.startsWith('multipart/form-data')) {
      ctx.parts = parseMultipart(rawBody, contentType);
      recordedBody = {
        multipart: ctx.parts.map((p) =>
          p.filename !== undefined || p.data.length > 256 || p.contentType
            ? { name: p.name, filename: p.filename, contentType: p.contentType, size: p.data.length }
            : { name: p.name, value: p.data.toString('utf8') },
        ),
      };
    } else if (rawBody.length > 0) {
      const text = rawBody.toString('utf8');
      try {
        ctx.json = JSON.parse(text);
        recordedBody = ctx.json;
      } catch {
        recordedBody = text;
      }
    }
    const call: RecordedCall = {
      method: ctx.method,
      path: ctx.path,
      query: ctx.query,
      headers,
      body: recordedBody,
      status: 0,
      response: undefined,
      at: Date.now(),
    };
    this.state.calls.push(call);
    const reply = await this.dispatch(ctx);
    call.status = reply.status;
    call.response = reply.raw ? { binary: reply.raw.length } : reply.body;
    this.send(res, reply);
  }

  private async dispatch(ctx: RequestContext): Promise<Reply> {
    const fault = this.takeFault(ctx);
    if (fault?.delayMs) await sleep(fault.delayMs);
    if (fault && (fault.status !== undefined || fault.code !== undefined)) {
      const status = fault.status ?? 400;
      const code = fault.code ?? (status === 429 ? 99991400 : status);
      const headers = { ...fault.headers };
      if (status === 429 && !headers['x-ogw-ratelimit-reset']) headers['x-ogw-ratelimit-reset'] = '1';
      return { status, body: { code, msg: fault.msg ?? 'emulated failure', data: {} }, headers };
    }
    const route = this.router.match(ctx.method, ctx.path);
    if (!route)
      return { status: 404, body: { code: 404, msg: `emulator: no route ${ctx.method} ${ctx.path}` } };
    if (!UNAUTHENTICATED.has(ctx.path)) {
      const auth = ctx.headers.authorization ?? '';
      const token = auth.replace(/^Bearer\s+/i, '');
      if (!token) {
        return { status: 400, body: { code: 99991661, msg: 'Missing access token for authorization.' } };
      }
      if (!this.state.tokens.has(token)) {
        return { status: 400, body: { code: 99991663, msg: 'Invalid access token for authorization.' } };
      }
    }
    ctx.params = route.params;
    return route.handler(ctx);
  }

  private send(res: ServerResponse, reply: Reply): void {
    if (reply.raw) {
      res.writeHead(reply.status, { 'content-length': String(reply.raw.length), ...reply.headers });
      res.end(reply.raw);
      return;
    }
    const body = JSON.stringify(reply.body ?? {});
    res.writeHead(reply.status, { 'content-type': 'application/json; charset=utf-8', ...reply.headers });
    res.end(body);
  }

  private takeFault(ctx: RequestContext): FaultSpec | undefined {
    const fault = this.faults.find(
      (f) =>
        (f.spec.method === undefined || f.spec.method.toUpperCase() === ctx.method) &&
        f.spec.path.test(ctx.path),
    );
    if (!fault) return undefined;
    if (fault.remaining > 0) fault.remaining--;
    if (fault.remaining === 0) this.faults = this.faults.filter((f) => f !== fault);
    return fault.spec;
  }

  // ---------------------------------------------------------------- faults & connection control

  /** Makes matching requests fail (or just wait). `times` defaults to 1; -1 = until clearFaults(). */
  failApi(spec: FaultSpec): string {
    const id = `fault_${this.nextFaultId++}`;
    this.faults.push({ id, spec, remaining: spec.times ?? 1 });
    return id;
  }

  clearFaults(id?: string): void {
    this.faults = id ? this.faults.filter((f) => f.id !== id) : [];
  }

  dropConnection(mode: 'close' | 'terminate' = 'close'): void {
    this.gateway.drop(mode);
  }

  setSilent(on: boolean): void {
    this.gateway.setSilent(on);
  }

  connectedClients(): number {
    return this.gateway.connectedCount();
  }

  status(): EmulatorStatus {
    return {
      url: this.url,
      connectedClients: this.gateway.connectedCount(),
      readyClients: this.gateway.readyCount(),
      firstPingSeen: this.gateway.firstPingSeen(),
      pingsReceived: this.gateway.pingsReceived,
      pongsSent: this.gateway.pongsSent,
    };
  }

  /** Resolves once a WS client is connected and has sent its first ping. */
  waitForClient(timeoutMs = 10_000): Promise<void> {
    return this.gateway.waitForReady(timeoutMs);
  }

  // ---------------------------------------------------------------- chats & events

  createChat(p: { chatId?: string; mode: ChatMode; name?: string }): { chatId: string; mode: ChatMode } {
    const chat = this.state.createChat(p);
    return { chatId: chat.chatId, mode: chat.mode };
  }

  private resolvePushChat(p: PushMessageParams, senderOpenId: string): ChatRecord {
    const mode: ChatMode = p.chatMode ?? (p.chatType === 'group' ? 'group' : 'p2p');
    if (p.chatId) {
      return (
        this.state.chats.get(p.chatId) ??
        this.state.createChat({
          chatId: p.chatId,
          mode,
          peerOpenId: mode === 'p2p' ? senderOpenId : undefined,
        })
      );
    }
    return mode === 'p2p' ? this.state.p2pChatFor(senderOpenId) : this.state.defaultChat(mode);
  }

  private threadFields(
    p: PushMessageParams,
    chat: ChatRecord,
  ): Pick<StoredMessage, 'rootId' | 'parentId' | 'threadId'> {
    const { state } = this;
    if (p.threadId) {
      const root = state.messageList.find((m) => m.threadId === p.threadId && !m.rootId);
      return { threadId: p.threadId, rootId: root?.messageId, parentId: p.parentId ?? root?.messageId };
    }
    if (p.rootId) {
      const root = state.messagesById.get(p.rootId);
      let threadId = root?.threadId;
      if (!threadId && root && chat.mode === 'topic') {
        threadId = `omt_${hex(8)}`;
        root.threadId = threadId;
      }
      return { rootId: p.rootId, parentId: p.parentId ?? p.rootId, threadId };
    }
    if (p.parentId) {
      const parent = state.messagesById.get(p.parentId);
      return { parentId: p.parentId, rootId: parent?.rootId ?? p.parentId, threadId: parent?.threadId };
    }
    return chat.mode === 'topic' ? { threadId: `omt_${hex(8)}` } : {};
  }

  private async deliverTimes(
    envelope: object,
    opts: PushRawOptions,
    onAck?: (ack: AckRecord) => void,
  ): Promise<Ack[]> {
    const payload = Buffer.from(JSON.stringify(envelope), 'utf8');
    const header = (envelope as { header?: { event_id?: string; event_type?: string } }).header;
    const acks: Ack[] = [];
    for (let i = 0; i < (opts.times ?? 1); i++) {
      const delivered = await this.gateway.deliver(payload, opts);
      if (!delivered) continue;
      const record: AckRecord = {
        ...delivered,
        eventId: header?.event_id,
        eventType: header?.event_type,
        at: Date.now(),
      };
      this.state.acks.push(record);
      onAck?.(record);
      const ack: Ack = { code: delivered.code };
      if (delivered.data !== undefined) ack.data = delivered.data;
      acks.push(ack);
    }
    return acks;
  }

  async pushMessage(p: PushMessageParams): Promise<PushMessageResult> {
    const senderOpenId = p.senderOpenId ?? DEFAULT_USER_OPEN_ID;
    this.state.ensureUser(senderOpenId);
    const chat = this.resolvePushChat(p, senderOpenId);
    let message = p.messageId ? this.state.messagesById.get(p.messageId) : undefined;
    if (!message) {
      const mentionList = [
        ...(p.mentionBot ? [{ openId: this.botOpenId, name: this.botName }] : []),
        ...(p.mentions ?? []),
      ];
      for (const m of p.mentions ?? []) this.state.ensureUser(m.openId, m.name);
      const mentions = this.state.mentionsFor(mentionList);
      const msgType = p.msgType ?? 'text';
      let content: string;
      if (p.content !== undefined) {
        content = typeof p.content === 'string' ? p.content : JSON.stringify(p.content);
      } else {
        let text = p.text ?? '';
        // Feishu puts @-placeholders in the text; prefix the ones the caller did not place.
        const missing = mentions.filter((m) => !text.includes(m.key)).map((m) => m.key);
        if (missing.length > 0) text = `${missing.join(' ')} ${text}`;
        content = JSON.stringify({ text });
      }
      message = this.state.addMessage({
        messageId: p.messageId,
        chatId: chat.chatId,
        msgType,
        content,
        senderId: senderOpenId,
        senderType: 'user',
        mentions,
        ...this.threadFields(p, chat),
      });
    }
    const eventId = p.eventId ?? newEventId();
    const envelope = messageReceiveEnvelope(this.state, this.appId, eventId, message, chat.mode);
    const acks = await this.deliverTimes(envelope, { times: p.times, fragments: p.fragments });
    const result: PushMessageResult = { messageId: message.messageId, eventId, chatId: chat.chatId, acks };
    if (message.threadId) result.threadId = message.threadId;
    return result;
  }

  async pushCardAction(p: PushCardActionParams): Promise<{ eventId: string; acks: Ack[] }> {
    const message = this.state.messagesById.get(p.messageId);
    const chatId = p.chatId ?? message?.chatId ?? '';
    const eventId = newEventId();
    const envelope = cardActionEnvelope(this.state, this.appId, eventId, {
      operatorOpenId: p.operatorOpenId ?? DEFAULT_USER_OPEN_ID,
      messageId: p.messageId,
      chatId,
      value: p.value,
      tag: p.tag ?? 'button',
      name: p.name,
      formValue: p.formValue,
    });
    const acks = await this.deliverTimes(envelope, { times: p.times }, (ack) => {
      const data = (typeof ack.data === 'object' && ack.data !== null ? ack.data : {}) as {
        toast?: unknown;
        card?: unknown;
      };
      const callback: CardCallbackRecord = {
        eventId,
        messageId: p.messageId,
        value: p.value,
        ack: { code: ack.code, data: ack.data },
        latencyMs: ack.latencyMs,
        toast: data.toast,
        card: data.card,
        at: Date.now(),
      };
      this.state.cardCallbacks.push(callback);
      if (ack.latencyMs > LIMITS.callbackDeadlineMs) {
        this.state.violation(
          'callback_timeout',
          `card.action.trigger ${eventId} acked after ${ack.latencyMs} ms (> ${LIMITS.callbackDeadlineMs} ms: user sees 200341)`,
          'ws:card.action.trigger',
        );
      } else if (message) {
        this.applyCallbackCard(message, data.card);
      }
    });
    return { eventId, acks };
  }

  /** A callback response card replaces the message's card, as the Feishu client does. */
  private applyCallbackCard(message: StoredMessage, card: unknown): void {
    const raw = card as { type?: string; data?: unknown } | undefined;
    if (message.msgType !== 'interactive') return;
    if (raw?.type !== 'raw' || typeof raw.data !== 'object' || raw.data === null) return;
    if (message.cardId) {
      const entity = this.state.cards.get(message.cardId);
      // A streaming card can't be updated by a callback response.
      if (!entity || entity.streamingMode) return;
      entity.json = raw.data as Record<string, unknown>;
    } else {
      message.content = JSON.stringify(raw.data);
    }
    message.updates++;
    message.updateTime = Date.now();
  }

  async pushCommentEvent(p: PushCommentParams): Promise<PushCommentResult> {
    const fileToken = p.fileToken ?? `doxcn${hex(11)}`;
    const fileType = p.fileType ?? 'docx';
    const commentId = p.commentId ?? numericId();
    const fromOpenId = p.fromOpenId ?? DEFAULT_USER_OPEN_ID;
    const isMentioned = p.isMentioned ?? true;
    this.state.ensureUser(fromOpenId);
    const key = commentKey(fileToken, commentId);
    let comment = this.state.comments.get(key);
    const noticeType = comment ? 'add_reply' : 'add_comment';
    if (!comment) {
      comment = {
        fileToken,
        fileType,
        commentId,
        userId: fromOpenId,
        createTime: Date.now(),
        isSolved: false,
        isWhole: false,
        quote: 'quoted document text',
        replies: [],
      };
      this.state.comments.set(key, comment);
    }
    const elements: Record<string, unknown>[] = [];
    // An @-mention of the bot is a person element ahead of the text, as in the Docs UI.
    if (isMentioned) elements.push({ type: 'person', person: { user_id: this.botOpenId } });
    elements.push({ type: 'text_run', text_run: { text: p.text } });
    const replyId = numericId();
    comment.replies.push({ replyId, userId: fromOpenId, createTime: Date.now(), content: { elements } });
    const eventId = newEventId();
    const envelope = commentAddEnvelope(this.state, this.appId, eventId, {
      fileToken,
      fileType,
      commentId,
      replyId,
      fromOpenId,
      isMentioned,
      noticeType,
    });
    const acks = await this.deliverTimes(envelope, {});
    return { fileToken, commentId, replyId, eventId, acks };
  }

  pushRawEvent(envelope: object, opts: PushRawOptions = {}): Promise<Ack[]> {
    return this.deliverTimes(envelope, opts);
  }

  /** Echo of the bot's own messages (sender_type 'app'), when echoBotMessages is on. */
  onBotMessage(message: StoredMessage): void {
    if (!this.echoBotMessages) return;
    const chat = this.state.chats.get(message.chatId);
    const envelope = messageReceiveEnvelope(
      this.state,
      this.appId,
      newEventId(),
      message,
      chat?.mode ?? 'p2p',
    );
    setTimeout(() => {
      this.deliverTimes(envelope, { clientWaitMs: 2000 }).catch(() => undefined);
    }, 0);
  }

  addResource(p: { messageId: string; fileKey: string; bytes: Buffer; contentType?: string }): void {
    this.state.messageResources.set(`${p.messageId}/${p.fileKey}`, {
      bytes: p.bytes,
      contentType: p.contentType ?? 'application/octet-stream',
    });
  }

  // ---------------------------------------------------------------- read-back

  get calls(): RecordedCall[] {
    return this.state.calls;
  }

  callsTo(method: string, pathPattern: RegExp): RecordedCall[] {
    return this.state.calls.filter((c) => c.method === method.toUpperCase() && pathPattern.test(c.path));
  }

  get acks(): AckRecord[] {
    return this.state.acks;
  }

  get violations(): LimitViolation[] {
    return this.state.violations;
  }

  get cardCallbacks(): CardCallbackRecord[] {
    return this.state.cardCallbacks;
  }

  get comments(): StoredComment[] {
    return [...this.state.comments.values()];
  }

  messages(chatId?: string): StoredMessage[] {
    return chatId ? this.state.messageList.filter((m) => m.chatId === chatId) : [...this.state.messageList];
  }

  /** Card entities by card_id; streaming state reflects the auto-close timeout. */
  get cards(): Record<string, CardEntity> {
    const out: Record<string, CardEntity> = {};
    for (const [id, card] of this.state.cards) {
      refreshStreaming(card, this.streamingTimeoutMs);
      out[id] = card;
    }
    return out;
  }

  chats(): ChatRecord[] {
    return [...this.state.chats.values()];
  }

  view(chatId: string): ChatViewItem[] {
    for (const card of this.state.cards.values()) refreshStreaming(card, this.streamingTimeoutMs);
    return chatView(this.state, chatId);
  }

  waitFor<T>(
    fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
    opts?: WaitForOptions,
  ): Promise<T> {
    return waitFor(fn, opts);
  }

  async close(): Promise<void> {
    await this.gateway.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
