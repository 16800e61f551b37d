// Client for the /_emu/ control API, for scripts and black-box tests in another process.
import type { FaultSpecJson } from './control-api.js';
import type {
  Ack,
  AckRecord,
  CardCallbackRecord,
  CardEntity,
  ChatMode,
  ChatRecord,
  ChatViewItem,
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

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface EmulatorControl {
  readonly url: string;
  status(): Promise<EmulatorStatus>;
  waitForClient(timeoutMs?: number): Promise<EmulatorStatus>;
  createChat(p: {
    chatId?: string;
    mode: ChatMode;
    name?: string;
  }): Promise<{ chatId: string; mode: ChatMode }>;
  chats(): Promise<ChatRecord[]>;
  pushMessage(p: PushMessageParams): Promise<PushMessageResult>;
  pushCardAction(p: PushCardActionParams): Promise<{ eventId: string; acks: Ack[] }>;
  pushCommentEvent(p: PushCommentParams): Promise<PushCommentResult>;
  pushRawEvent(envelope: object, opts?: PushRawOptions): Promise<Ack[]>;
  addResource(p: { messageId: string; fileKey: string; bytes: Buffer; contentType?: string }): Promise<void>;
  calls(): Promise<RecordedCall[]>;
  /** Filters calls() locally. */
  callsTo(method: string, pathPattern: RegExp): Promise<RecordedCall[]>;
  acks(): Promise<AckRecord[]>;
  cardCallbacks(): Promise<CardCallbackRecord[]>;
  violations(): Promise<LimitViolation[]>;
  messages(chatId?: string): Promise<StoredMessage[]>;
  comments(): Promise<StoredComment[]>;
  cards(): Promise<Record<string, CardEntity>>;
  view(chatId: string): Promise<ChatViewItem[]>;
  failApi(spec: FaultSpec): Promise<string>;
  clearFaults(id?: string): Promise<void>;
  dropConnection(mode?: 'close' | 'terminate'): Promise<void>;
  setSilent(on: boolean): Promise<void>;
  connectedClients(): Promise<number>;
  waitFor<T>(
    fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
    opts?: { timeoutMs?: number; intervalMs?: number },
  ): Promise<T>;
}

export function connectEmulatorControl(url: string): EmulatorControl {
  const base = url.replace(/\/+$/, '');

  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? undefined : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const parsed = (await res.json()) as T & { error?: string };
    if (!res.ok) throw new Error(`emulator control ${method} ${path}: ${res.status} ${parsed.error ?? ''}`);
    return parsed;
  }

  const control: EmulatorControl = {
    url: base,
    status: () => call('GET', '/_emu/status'),
    waitForClient: (timeoutMs) => call('POST', '/_emu/wait-for-client', { timeoutMs }),
    createChat: (p) => call('POST', '/_emu/chats', p),
    chats: () => call('GET', '/_emu/chats'),
    pushMessage: (p) => call('POST', '/_emu/messages', p),
    pushCardAction: (p) => call('POST', '/_emu/card-actions', p),
    pushCommentEvent: (p) => call('POST', '/_emu/comments', p),
    pushRawEvent: (envelope, options) => call('POST', '/_emu/raw-events', { envelope, options }),
    addResource: async (p) => {
      await call('POST', '/_emu/resources', {
        messageId: p.messageId,
        fileKey: p.fileKey,
        base64: p.bytes.toString('base64'),
        contentType: p.contentType,
      });
    },
    calls: () => call('GET', '/_emu/calls'),
    callsTo: async (method, pathPattern) =>
      (await control.calls()).filter((c) => c.method === method.toUpperCase() && pathPattern.test(c.path)),
    acks: () => call('GET', '/_emu/acks'),
    cardCallbacks: () => call('GET', '/_emu/card-callbacks'),
    violations: () => call('GET', '/_emu/violations'),
    messages: (chatId) =>
      call('GET', `/_emu/messages${chatId ? `?chat_id=${encodeURIComponent(chatId)}` : ''}`),
    comments: () => call('GET', '/_emu/comments'),
    cards: () => call('GET', '/_emu/cards'),
    view: (chatId) => call('GET', `/_emu/view?chat_id=${encodeURIComponent(chatId)}`),
    failApi: async (spec) => {
      const wire: FaultSpecJson = { ...spec, path: spec.path.source, flags: spec.path.flags };
      return (await call<{ id: string }>('POST', '/_emu/faults', wire)).id;
    },
    clearFaults: async (id) => {
      await call('DELETE', `/_emu/faults${id ? `?id=${encodeURIComponent(id)}` : ''}`);
    },
    dropConnection: async (mode = 'close') => {
      await call('POST', '/_emu/drop', { mode });
    },
    setSilent: async (on) => {
      await call('POST', '/_emu/silent', { on });
    },
    connectedClients: async () => (await control.status()).connectedClients,
    waitFor: async (fn, opts = {}) => {
      const deadline = Date.now() + (opts.timeoutMs ?? 5000);
      for (;;) {
        const value = await fn();
        if (value !== undefined && value !== null && value !== false) return value;
        if (Date.now() > deadline) throw new Error(`waitFor timed out after ${opts.timeoutMs ?? 5000} ms`);
        await sleep(opts.intervalMs ?? 50);
      }
    },
  };
  return control;
}
