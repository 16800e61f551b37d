// The long-connection gateway: one-shot tickets, ping/pong with full ClientConfig, data frames
// (optionally fragmented) and ack collection.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import {
  decodeFrame,
  encodeFrame,
  FRAME_METHOD_CONTROL,
  FRAME_METHOD_DATA,
  type Frame,
  type FrameHeader,
  headerValue,
} from './codec.js';
import { hex } from './ids.js';
import type { Ack } from './types.js';

export const WS_SERVICE_ID = 33554678;

export interface ClientConfig {
  PingInterval: number;
  ReconnectCount: number;
  ReconnectInterval: number;
  ReconnectNonce: number;
}

interface Connection {
  id: number;
  socket: WebSocket;
  connectedAt: number;
  firstPingAt?: number;
  /** A deaf connection: open, but no pongs and no deliveries. */
  silent: boolean;
}

interface PendingAck {
  resolve: (ack: DeliveredAck) => void;
  sentAt: number;
}

export interface DeliveredAck extends Ack {
  frameMessageId: string;
  latencyMs: number;
}

export interface DeliverOptions {
  fragments?: number;
  frameType?: 'event' | 'card';
  ackTimeoutMs?: number;
  /** How long to wait for a client that has sent its first ping (default 10 s). */
  clientWaitMs?: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class WsGateway {
  readonly clientConfig: ClientConfig;
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly tickets = new Set<string>();
  private readonly connections = new Map<number, Connection>();
  private readonly pendingAcks = new Map<string, PendingAck>();
  private nextConnectionId = 1;
  private nextSeqId = 1;
  private everPinged = false;
  /** Counters for conformance checks of the control channel. */
  pingsReceived = 0;
  pongsSent = 0;
  private closed = false;

  constructor(pingIntervalSec: number) {
    // Small reconnect values keep tests fast: the SDK takes reconnect timing from the server.
    this.clientConfig = {
      PingInterval: pingIntervalSec,
      ReconnectCount: -1,
      ReconnectInterval: 1,
      ReconnectNonce: 0,
    };
  }

  /** Discovery hands out one ticket per URL; the upgrade consumes it. */
  issueUrl(origin: string): string {
    const ticket = hex(12);
    this.tickets.add(ticket);
    // fpid first: the SDK runs querystring.parse on the whole URL, so the first key is mangled.
    return (
      `${origin.replace(/^http/, 'ws')}/ws/v2?fpid=493&aid=552564&device_id=${hex(8)}` +
      `&access_key=${hex(16)}&service_id=${WS_SERVICE_ID}&ticket=${ticket}`
    );
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const ticket = url.searchParams.get('ticket') ?? '';
    if (this.closed || url.pathname !== '/ws/v2' || !this.tickets.delete(ticket)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws));
  }

  private accept(socket: WebSocket): void {
    const conn: Connection = { id: this.nextConnectionId++, socket, connectedAt: Date.now(), silent: false };
    this.connections.set(conn.id, conn);
    socket.on('message', (data: Buffer) => this.onFrame(conn, data));
    socket.on('close', () => this.connections.delete(conn.id));
    socket.on('error', () => this.connections.delete(conn.id));
  }

  private onFrame(conn: Connection, data: Buffer): void {
    let frame: Frame;
    try {
      frame = decodeFrame(new Uint8Array(data));
    } catch {
      return;
    }
    const type = headerValue(frame, 'type');
    if (frame.method === FRAME_METHOD_CONTROL && type === 'ping') {
      if (conn.firstPingAt === undefined) conn.firstPingAt = Date.now();
      this.everPinged = true;
      this.pingsReceived++;
      if (!conn.silent) this.sendPong(conn, frame);
      return;
    }
    if (frame.method === FRAME_METHOD_DATA) {
      const frameMessageId = headerValue(frame, 'message_id') ?? '';
      const pending = this.pendingAcks.get(frameMessageId);
      if (!pending) return;
      this.pendingAcks.delete(frameMessageId);
      pending.resolve({
        ...parseAckPayload(frame.payload),
        frameMessageId,
        latencyMs: Date.now() - pending.sentAt,
      });
    }
  }

  private sendPong(conn: Connection, ping: Frame): void {
    // Always the full ClientConfig: the SDK replaces its whole config from the pong payload.
    const pong: Frame = {
      SeqID: 0,
      LogID: 0,
      service: ping.service,
      method: FRAME_METHOD_CONTROL,
      headers: [{ key: 'type', value: 'pong' }],
      payload: Buffer.from(JSON.stringify(this.clientConfig)),
    };
    conn.socket.send(encodeFrame(pong));
    this.pongsSent++;
  }

  /** Connections that pinged at least once: pushing earlier loses the frame (SDK listener race). */
  private readyConnections(): Connection[] {
    return [...this.connections.values()].filter(
      (c) => c.firstPingAt !== undefined && !c.silent && c.socket.readyState === c.socket.OPEN,
    );
  }

  connectedCount(): number {
    return [...this.connections.values()].filter((c) => c.socket.readyState === c.socket.OPEN).length;
  }

  readyCount(): number {
    return this.readyConnections().length;
  }

  firstPingSeen(): boolean {
    return this.everPinged;
  }

  async waitForReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.readyConnections().length === 0) {
      if (this.closed) throw new Error('emulator closed');
      if (Date.now() > deadline) {
        throw new Error(`no WS client connected and pinged within ${timeoutMs} ms`);
      }
      await sleep(10);
    }
  }

  /**
   * Sends one delivery of `payload` and resolves with its ack. Card frames are never acked by the
   * Node SDK, so for them the ack timeout resolves with undefined instead of throwing.
   */
  async deliver(payload: Uint8Array, opts: DeliverOptions = {}): Promise<DeliveredAck | undefined> {
    const frameType = opts.frameType ?? 'event';
    const ackTimeoutMs = opts.ackTimeoutMs ?? (frameType === 'card' ? 300 : 15_000);
    await this.waitForReady(opts.clientWaitMs ?? 10_000);
    // The most recently connected ready client gets the event (real Feishu picks one at random).
    const conn = this.readyConnections().sort((a, b) => b.connectedAt - a.connectedAt)[0]!;
    const frameMessageId = `emu_${hex(8)}`;
    const fragments = chunk(payload, Math.max(1, opts.fragments ?? 1));
    const acked = new Promise<DeliveredAck>((resolve) => {
      this.pendingAcks.set(frameMessageId, { resolve, sentAt: Date.now() });
    });
    const traceId = hex(8);
    fragments.forEach((piece, seq) => {
      const headers: FrameHeader[] = [
        { key: 'type', value: frameType },
        { key: 'message_id', value: frameMessageId },
        { key: 'sum', value: String(fragments.length) },
        { key: 'seq', value: String(seq) },
        { key: 'trace_id', value: traceId },
        { key: 'timestamp', value: String(Date.now()) },
        { key: 'instance_id', value: 'emu-gw-1' },
      ];
      const frame: Frame = {
        SeqID: this.nextSeqId++,
        LogID: Date.now(),
        service: WS_SERVICE_ID,
        method: FRAME_METHOD_DATA,
        headers,
        payload: piece,
        LogIDNew: `emu_log_${hex(6)}`,
      };
      conn.socket.send(encodeFrame(frame));
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ackTimeoutMs);
    });
    const ack = await Promise.race([acked, timeout]);
    clearTimeout(timer);
    if (!ack) {
      this.pendingAcks.delete(frameMessageId);
      if (frameType === 'card') return undefined;
      throw new Error(`no ack for frame ${frameMessageId} within ${ackTimeoutMs} ms`);
    }
    return ack;
  }

  drop(mode: 'close' | 'terminate'): void {
    for (const conn of this.connections.values()) {
      if (mode === 'terminate') conn.socket.terminate();
      else conn.socket.close(1000, 'emulator drop');
    }
  }

  /** Silences the connections open right now; connections made later behave normally. */
  setSilent(on: boolean): void {
    for (const conn of this.connections.values()) conn.silent = on;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const conn of this.connections.values()) conn.socket.terminate();
    this.connections.clear();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

function chunk(payload: Uint8Array, pieces: number): Uint8Array[] {
  const n = Math.min(pieces, Math.max(1, payload.length));
  const size = Math.ceil(payload.length / n);
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) out.push(payload.subarray(i * size, Math.min(payload.length, (i + 1) * size)));
  return out;
}

/** Ack payload: {code, data?} where data is base64(JSON.stringify(handlerResult)). */
export function parseAckPayload(payload: Uint8Array | undefined): Ack {
  if (!payload || payload.length === 0) return { code: -1 };
  try {
    const parsed = JSON.parse(Buffer.from(payload).toString('utf8')) as { code?: number; data?: string };
    const ack: Ack = { code: Number(parsed.code ?? -1) };
    if (parsed.data !== undefined) {
      const decoded = Buffer.from(String(parsed.data), 'base64').toString('utf8');
      try {
        ack.data = JSON.parse(decoded);
      } catch {
        ack.data = decoded;
      }
    }
    return ack;
  } catch {
    return { code: -1, data: Buffer.from(payload).toString('utf8') };
  }
}
