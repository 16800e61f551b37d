/**
 * `/metrics` (Prometheus text format 0.0.4) and `/health` (JSON) on a loopback-only port,
 * enabled by config (seed 004 §5.16; telemetry stays opt-in).
 *
 * Neither route is authenticated, so the server refuses any host but loopback: the run counts,
 * connection state and agent status of someone's machine are nobody else's business. It also
 * refuses foreign Host headers, so a web page cannot read it through DNS rebinding.
 *
 * node:http rather than a framework: two GET routes, no bodies.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { z } from 'zod';
import { LarkcodeError } from '../core/errors.js';

export const LOOPBACK_HOSTS = ['127.0.0.1', '::1', 'localhost'] as const;
export type LoopbackHost = (typeof LOOPBACK_HOSTS)[number];

export const DEFAULT_HEALTH_PORT = 9478;

/** The config block that turns the server on (for the lead to merge into `configSchema`). */
export const healthServerConfigSchema = z
  .object({
    enabled: z.boolean().default(false),
    host: z.enum(LOOPBACK_HOSTS).default('127.0.0.1'),
    /** 0 picks a free port (tests). */
    port: z.number().int().min(0).max(65_535).default(DEFAULT_HEALTH_PORT),
  })
  .strict();
export type HealthServerConfig = z.infer<typeof healthServerConfigSchema>;

export const healthStatuses = ['ok', 'degraded', 'down'] as const;
export type HealthStatus = (typeof healthStatuses)[number];

/**
 * The `/health` body. Checked on the way out: unknown keys are stripped, so a field added to
 * the daemon's facts by mistake (a token, a path) never reaches the response.
 */
export const healthReportSchema = z.object({
  status: z.enum(healthStatuses),
  connection: z.object({
    /** The Feishu long connection: `idle | connecting | connected | reconnecting | failed`. */
    state: z.string(),
    /** ISO time of the last event received from Feishu. */
    lastEventAt: z.iso.datetime().optional(),
    lastEventAgoSec: z.number().nonnegative().optional(),
  }),
  agent: z.object({
    /** Result of the agent smoke test. */
    ok: z.boolean(),
    detail: z.string(),
    checkedAt: z.iso.datetime().optional(),
  }),
  uptimeSec: z.number().nonnegative(),
  version: z.string().optional(),
});
export type HealthReport = z.infer<typeof healthReportSchema>;

export interface HealthFacts {
  connectionState: string;
  /** Epoch ms of the last Feishu event, if any arrived. */
  lastEventAt?: number;
  agent: { ok: boolean; detail: string; checkedAt?: number };
  /** Epoch ms the daemon started. */
  startedAt: number;
  version?: string;
  now?: number;
}

/**
 * The report for the daemon's current facts. `down` when the long connection is gone for good
 * (`failed`) or never started (`idle`): no message can arrive. `degraded` while it is
 * (re)connecting or the agent smoke test fails: messages may arrive but runs would not work.
 * A quiet chat is normal, so the age of the last event never changes the status.
 */
export function composeHealthReport(facts: HealthFacts): HealthReport {
  const now = facts.now ?? Date.now();
  const { connectionState: state, agent } = facts;
  const status: HealthStatus =
    state === 'failed' || state === 'idle' ? 'down' : state === 'connected' && agent.ok ? 'ok' : 'degraded';
  return {
    status,
    connection: {
      state,
      ...(facts.lastEventAt === undefined
        ? {}
        : {
            lastEventAt: new Date(facts.lastEventAt).toISOString(),
            lastEventAgoSec: Math.max(0, Math.round((now - facts.lastEventAt) / 1000)),
          }),
    },
    agent: {
      ok: agent.ok,
      detail: agent.detail,
      ...(agent.checkedAt === undefined ? {} : { checkedAt: new Date(agent.checkedAt).toISOString() }),
    },
    uptimeSec: Math.max(0, Math.round((now - facts.startedAt) / 1000)),
    ...(facts.version === undefined ? {} : { version: facts.version }),
  };
}

export interface HealthServerOptions {
  /** 0 picks a free port. */
  port: number;
  /** 127.0.0.1 (default), ::1 or localhost; anything else is refused. */
  host?: string;
  metrics: () => string;
  health: () => Promise<HealthReport> | HealthReport;
  logger: Logger;
  /** How long `/health` waits for `health()` before answering `down` (default 2 s). */
  healthTimeoutMs?: number;
}

export interface HealthServer {
  /** Base URL, e.g. `http://127.0.0.1:9478` (no trailing slash). */
  url: string;
  /** Stop listening and drop open connections; idempotent. */
  close(): Promise<void>;
}

const REQUEST_TIMEOUT_MS = 5_000;
const DEFAULT_HEALTH_TIMEOUT_MS = 2_000;
const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
const ROUTES = new Set(['/metrics', '/health']);

/** The host to bind, or a config error when it is not loopback. */
export function loopbackHost(host: string): LoopbackHost {
  const normalized = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  const found = LOOPBACK_HOSTS.find((candidate) => candidate === normalized);
  if (!found) {
    throw new LarkcodeError(
      'config',
      `the health server listens on loopback only (127.0.0.1, ::1 or localhost), not "${host}": ` +
        '/metrics and /health have no authentication',
    );
  }
  return found;
}

function isLoopbackAddress(address: string): boolean {
  if (address === '::1') return true;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** Host header names a browser uses for this server; anything else is a rebinding attempt. */
function isLoopbackHostHeader(header: string | undefined): boolean {
  if (header === undefined) return true; // not a browser (HTTP/1.0 clients, some scrapers)
  const name = header.startsWith('[') ? header.slice(0, header.indexOf(']') + 1) : header.split(':')[0]!;
  return ['127.0.0.1', 'localhost', '[::1]'].includes(name.toLowerCase());
}

export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const { metrics, health, logger } = options;
  const host = loopbackHost(options.host ?? '127.0.0.1');
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65_535) {
    throw new LarkcodeError('config', `health server port must be 0–65535, not ${options.port}`);
  }
  const healthTimeoutMs = options.healthTimeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS;

  const send = (
    req: IncomingMessage,
    res: ServerResponse,
    code: number,
    body: string,
    headers: Record<string, string>,
  ) => {
    res.writeHead(code, {
      'content-length': String(Buffer.byteLength(body)),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      ...headers,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  const sendText = (req: IncomingMessage, res: ServerResponse, code: number, body: string) =>
    send(req, res, code, body, { 'content-type': 'text/plain; charset=utf-8' });

  const readHealth = async (): Promise<HealthReport> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new LarkcodeError('internal', `health check took over ${healthTimeoutMs} ms`)),
        healthTimeoutMs,
      );
      timer.unref();
    });
    try {
      const raw = await Promise.race([Promise.resolve().then(health), timeout]);
      return healthReportSchema.parse(raw);
    } finally {
      clearTimeout(timer);
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (!isLoopbackHostHeader(req.headers.host)) return sendText(req, res, 403, 'forbidden\n');
    const path = (req.url ?? '/').split('?')[0]!;
    if (!ROUTES.has(path)) return sendText(req, res, 404, 'not found\n');
    // HEAD is GET without the body (RFC 9110 asks every server to support both).
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(req, res, 405, 'method not allowed\n', {
        'content-type': 'text/plain; charset=utf-8',
        allow: 'GET, HEAD',
      });
    }
    if (path === '/metrics') {
      let body: string;
      try {
        body = metrics();
      } catch (error) {
        logger.error({ err: error }, 'rendering /metrics failed');
        return sendText(req, res, 500, 'metrics unavailable\n');
      }
      return send(req, res, 200, body, { 'content-type': METRICS_CONTENT_TYPE });
    }
    let report: HealthReport;
    try {
      report = await readHealth();
    } catch (error) {
      logger.warn({ err: error }, '/health could not read the daemon state');
      // The error text stays in the log: the response is for a monitor, not a debugger.
      report = {
        status: 'down',
        connection: { state: 'unknown' },
        agent: { ok: false, detail: 'health check failed (see the larkcode log)' },
        uptimeSec: Math.round(process.uptime()),
      };
    }
    // Only a fully healthy daemon answers 200: monitors key on the status code, and a degraded
    // one (reconnecting, agent failing) does not serve chats.
    send(req, res, report.status === 'ok' ? 200 : 503, `${JSON.stringify(report)}\n`, {
      'content-type': 'application/json; charset=utf-8',
    });
  };

  const server: Server = createServer(
    { requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: REQUEST_TIMEOUT_MS },
    (req, res) => {
      handle(req, res).catch((error: unknown) => {
        logger.error({ err: error }, 'health server request failed');
        if (!res.headersSent) sendText(req, res, 500, 'internal error\n');
        else res.destroy();
      });
    },
  );

  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(
        new LarkcodeError(
          'config',
          `the health server could not listen on ${host}:${options.port} (${error.code ?? error.message})`,
          { cause: error },
        ),
      );
    };
    server.once('error', onError);
    server.listen(options.port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });

  const bound = server.address();
  if (!bound || typeof bound !== 'object' || !isLoopbackAddress(bound.address)) {
    // `localhost` is resolved by the system; a hosts file mapping it elsewhere must not expose us.
    await new Promise<void>((resolve) => server.close(() => resolve()));
    throw new LarkcodeError(
      'config',
      `the health server host "${host}" resolved to a non-loopback address; use 127.0.0.1 or ::1`,
    );
  }
  server.on('error', (error) => logger.warn({ err: error }, 'health server error'));
  // Metrics must never be why the daemon stays alive after shutdown.
  server.unref();

  const url = `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
  logger.info({ url }, 'health server listening (/metrics, /health)');

  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive connections (a scraper's) would otherwise hold close() for seconds.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
