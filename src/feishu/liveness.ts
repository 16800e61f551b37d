import type * as lark from '@larksuiteoapi/node-sdk';
import type { Logger } from 'pino';

export interface LivenessOptions {
  /** How often the watchdog looks (production 15 s). */
  checkEveryMs: number;
  /** Inbound silence after which we ping ourselves (production 20 s). */
  quietAfterMs: number;
  /** No inbound frame this long after our ping: the connection is deaf (production 10 s). */
  answerWithinMs: number;
}

export const LIVENESS_DEFAULTS: LivenessOptions = {
  checkEveryMs: 15_000,
  quietAfterMs: 20_000,
  answerWithinMs: 10_000,
};

/** The parts of the SDK's WSClient the watchdog reaches into (not public API; checked at start). */
interface WSClientInternals {
  wsConfig?: { getWSInstance?: () => SocketLike | undefined | null; getWS?: () => { serviceId?: unknown } };
  sendMessage?: (frame: unknown) => void;
}

interface SocketLike {
  readyState: number;
  on(event: 'message', listener: () => void): void;
  terminate(): void;
}

const OPEN = 1;

/**
 * Detects a deaf long connection: the socket looks open and the SDK says "connected", but
 * nothing arrives (NAT dropped it, the laptop slept). The SDK pings only at the server's
 * interval (two minutes on Feishu), so after 20 s of silence we send a ping of our own; if no
 * frame answers within 10 s the socket is terminated, and the SDK's reconnect takes over —
 * within a minute in all. Uses SDK internals (pinned version); if they are missing it logs once
 * and does nothing, leaving the SDK's own ping timeout in charge.
 */
export function watchLiveness(
  client: () => lark.WSClient | undefined,
  logger: Logger,
  onDeaf: () => void,
  options: LivenessOptions = LIVENESS_DEFAULTS,
): () => void {
  let socket: SocketLike | undefined;
  let lastInboundAt = Date.now();
  let pingedAt: number | undefined;
  let warned = false;

  const check = () => {
    const ws = client() as unknown as WSClientInternals | undefined;
    const current = ws?.wsConfig?.getWSInstance?.() ?? undefined;
    if (!ws || typeof ws.sendMessage !== 'function' || !ws.wsConfig?.getWS) {
      if (!warned && ws) logger.warn('liveness watchdog unavailable with this node-sdk version');
      warned = true;
      return;
    }
    if (!current || current.readyState !== OPEN) return;
    if (current !== socket) {
      socket = current;
      lastInboundAt = Date.now();
      pingedAt = undefined;
      current.on('message', () => {
        lastInboundAt = Date.now();
        pingedAt = undefined;
      });
      return;
    }
    const now = Date.now();
    if (pingedAt !== undefined && now - pingedAt >= options.answerWithinMs) {
      logger.warn({ silentForMs: now - lastInboundAt }, 'feishu long connection is deaf; reconnecting');
      pingedAt = undefined;
      onDeaf();
      current.terminate();
      return;
    }
    if (pingedAt === undefined && now - lastInboundAt >= options.quietAfterMs) {
      pingedAt = now;
      const serviceId = Number(ws.wsConfig.getWS().serviceId);
      // The same control frame the SDK sends for its own pings (pbbp2: method 0 = control).
      ws.sendMessage({
        headers: [{ key: 'type', value: 'ping' }],
        service: serviceId,
        method: 0,
        SeqID: 0,
        LogID: 0,
      });
    }
  };
  const timer = setInterval(check, options.checkEveryMs);
  timer.unref();
  return () => clearInterval(timer);
}
