/**
 * Watching the machines: `larkcode start --inspect` and `--record <file>`.
 *
 * Both sinks share one `@statelyai/inspect` `createInspector({ send })` adapter, so they see
 * exactly the serialised events the Stately inspector UI consumes (`@xstate.actor`,
 * `@xstate.event`, `@xstate.snapshot`), after `sanitizeInspectionEvent` has dropped secrets
 * and truncated long text.
 *
 * - `recordFile`: one JSONL line per event (append; mode 0600).
 * - `inspect`: a local page on 127.0.0.1 that iframes https://stately.ai/inspect and feeds it
 *   the live events (Server-Sent Events → postMessage), the same bridge as
 *   `@statelyai/inspect/server`'s `createInspectorServer`, but in-process: no WebSocket client
 *   with a reconnect loop that ignores `stop()`, no crash on a busy port, loopback only,
 *   and every handle `unref()`'d so it can never keep the daemon alive.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { dirname } from 'node:path';
import { createInspector } from '@statelyai/inspect';
import type { Logger } from 'pino';
import type { InspectionEvent } from 'xstate';

export interface InspectionOptions {
  /** Serve the live inspector page (needs internet in the browser: it embeds stately.ai). */
  inspect?: boolean;
  /** Append every inspection event as JSONL to this file. */
  recordFile?: string;
  logger: Logger;
  /** Port for the inspector page on 127.0.0.1; 0 (default) picks a free one. */
  inspectPort?: number;
}

export interface Inspection {
  /** Pass to `createActor(root, { inspect })`; undefined when nothing was asked for. */
  observer?: (event: InspectionEvent) => void;
  /** Flush and close everything; resolves within 1 s, idempotent. */
  stop(): Promise<void>;
}

/** One serialised Stately inspection event, as written to the record file and the page. */
export type StatelyEvent = { type: string; sessionId?: string; [key: string]: unknown };

const STOP_DEADLINE_MS = 1000;
const MAX_STRING = 200;
const MAX_DEPTH = 12;
const MAX_ARRAY = 200;
const STATELY_INSPECT_URL = 'https://stately.ai/inspect';
/** Events the page replays to a browser that connects late (plus every live actor's registration). */
const REPLAY_EVENTS = 500;
const REPLAY_ACTORS = 500;

/** Keys whose values never leave the process. */
const SECRET_KEY =
  /secret|api[-_]?key|passw(or)?d|credential|authorization|cookie|private[-_]?key|encrypt[-_]?key|^token$|[-_]token$|(access|refresh|auth|bearer|id|session)token$/i;

function truncate(text: string): string {
  return text.length <= MAX_STRING
    ? text
    : `${text.slice(0, MAX_STRING)}…[+${text.length - MAX_STRING} chars]`;
}

/**
 * A JSON-safe copy with secret-like keys redacted, strings cut to 200 chars, cycles and
 * depth bounded; honours `toJSON` (actor refs, snapshots), tolerates `undefined` anywhere.
 */
export function sanitizeValue(value: unknown, depth = 0, seen: Set<object> = new Set()): unknown {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'string') return truncate(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'function') return { type: value.name || 'function' };
  if (typeof value !== 'object') return undefined; // undefined, symbol
  if (seen.has(value)) return '[circular]';
  if (depth >= MAX_DEPTH) return '[…]';
  if (value instanceof Error) return { name: value.name, message: truncate(value.message) };
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    let json: unknown;
    try {
      json = toJSON.call(value);
    } catch {
      return '[unserializable]';
    }
    if (json !== value) {
      seen.add(value);
      const out = sanitizeValue(json, depth, seen);
      seen.delete(value);
      return out;
    }
  }
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      const items = value.slice(0, MAX_ARRAY).map((item) => sanitizeValue(item, depth + 1, seen) ?? null);
      if (value.length > MAX_ARRAY) items.push(`[+${value.length - MAX_ARRAY} items]`);
      return items;
    }
    if (value instanceof Map) return sanitizeValue(Object.fromEntries(value), depth, seen);
    if (value instanceof Set) return sanitizeValue([...value], depth, seen);
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) {
      if (SECRET_KEY.test(key)) {
        if (child !== undefined) out[key] = '[redacted]';
        continue;
      }
      const clean = sanitizeValue(child, depth + 1, seen);
      if (clean !== undefined) out[key] = clean;
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

/** Sanitise one serialised Stately event; the `@xstate.actor` definition string too. */
export function sanitizeInspectionEvent(event: StatelyEvent): StatelyEvent {
  const { definition, ...rest } = event;
  const clean = sanitizeValue(rest) as StatelyEvent;
  if (typeof definition === 'string') {
    try {
      clean.definition = JSON.stringify(sanitizeValue(JSON.parse(definition)));
    } catch {
      clean.definition = JSON.stringify({ id: String(clean.name ?? 'unknown') });
    }
  }
  return clean;
}

function withDeadline(work: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    work.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      () => {
        clearTimeout(timer);
        resolve();
      },
    );
  });
}

/** A macrotask after the inspector's own `setTimeout(0)` conversions have run. */
function afterPendingConversions(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0)).then(
    () => new Promise((resolve) => setTimeout(resolve, 0)),
  );
}

// ---------------------------------------------------------------------------
// Sink: JSONL recorder

interface Sink {
  send(line: string, event: StatelyEvent): void;
  close(): Promise<void>;
}

function createRecorder(file: string, logger: Logger): Sink {
  mkdirSync(dirname(file), { recursive: true });
  const stream: WriteStream = createWriteStream(file, { flags: 'a', mode: 0o600 });
  let failed = false;
  stream.on('error', (error) => {
    if (!failed) logger.warn({ err: error, file }, 'inspection recording failed; recording stopped');
    failed = true;
  });
  logger.info({ file }, 'recording machine inspection events (JSONL)');
  return {
    send(line) {
      if (!failed && stream.writable) stream.write(`${line}\n`);
    },
    close() {
      return new Promise<void>((resolve) => {
        if (stream.destroyed || stream.closed) return resolve();
        stream.once('close', () => resolve());
        stream.end();
      });
    },
  };
}

// ---------------------------------------------------------------------------
// Sink: live page (loopback HTTP, SSE → postMessage into the stately.ai iframe)

function bridgeHtml(inspectorUrl: string): string {
  const origin = new URL(inspectorUrl).origin;
  return `<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  <title>larkcode · Stately Inspector</title>
  <style>* { margin: 0; padding: 0; } html, body { height: 100%; } iframe { width: 100%; height: 100%; border: none; }</style>
</head>
<body>
  <iframe id="inspector" src="${inspectorUrl}"></iframe>
  <script>
    const iframe = document.getElementById('inspector');
    const buffer = [];
    let connected = false;
    window.addEventListener('message', (e) => {
      if (e.origin !== ${JSON.stringify(origin)}) return;
      if (e.data && e.data.type === '@statelyai.connected') {
        connected = true;
        for (const event of buffer.splice(0)) iframe.contentWindow.postMessage(event, ${JSON.stringify(origin)});
      }
    });
    const source = new EventSource('/events');
    source.onmessage = (message) => {
      const event = JSON.parse(message.data);
      if (connected) iframe.contentWindow.postMessage(event, ${JSON.stringify(origin)});
      else buffer.push(event);
    };
  </script>
</body>
</html>
`;
}

function createLivePage(port: number, logger: Logger): Sink {
  const clients = new Set<ServerResponse>();
  const sockets = new Set<Socket>();
  const actors = new Map<string, string>();
  const recent: string[] = [];
  let address = '';
  let closed = false;

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    // Loopback only, and refuse foreign Host headers (DNS rebinding).
    const host = req.headers.host ?? '';
    if (host !== address && host !== address.replace('127.0.0.1', 'localhost')) {
      res.writeHead(403).end();
      return;
    }
    if (req.method === 'GET' && req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(bridgeHtml(STATELY_INSPECT_URL));
      return;
    }
    if (req.method === 'GET' && req.url === '/events' && !closed) {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      for (const line of actors.values()) res.write(`data: ${line}\n\n`);
      for (const line of recent) res.write(`data: ${line}\n\n`);
      clients.add(res);
      res.on('close', () => clients.delete(res));
      return;
    }
    res.writeHead(404).end();
  };

  const server: Server = createServer(onRequest);
  server.on('connection', (socket) => {
    socket.unref();
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('error', (error) => {
    logger.warn({ err: error, port }, 'inspector page could not start; continuing without it');
  });
  server.listen(port, '127.0.0.1', () => {
    const bound = server.address();
    if (bound && typeof bound === 'object') {
      address = `127.0.0.1:${bound.port}`;
      logger.info(
        { url: `http://${address}/` },
        'inspector: open this URL in a browser on this machine to watch the machines live (it embeds https://stately.ai/inspect)',
      );
    }
  });
  server.unref();

  return {
    send(line, event) {
      if (event.type === '@xstate.actor' && typeof event.sessionId === 'string') {
        actors.delete(event.sessionId);
        actors.set(event.sessionId, line);
        if (actors.size > REPLAY_ACTORS) actors.delete(actors.keys().next().value!);
      } else {
        recent.push(line);
        if (recent.length > REPLAY_EVENTS) recent.shift();
      }
      if (closed) return;
      for (const client of clients) client.write(`data: ${line}\n\n`);
    },
    close() {
      closed = true;
      return new Promise<void>((resolve) => {
        for (const client of clients) client.end();
        for (const socket of sockets) socket.destroy();
        if (!server.listening) return resolve();
        server.close(() => resolve());
      });
    },
  };
}

// ---------------------------------------------------------------------------

export function createInspection(options: InspectionOptions): Inspection {
  const { logger } = options;
  const sinks: Sink[] = [];
  if (options.recordFile) {
    try {
      sinks.push(createRecorder(options.recordFile, logger));
    } catch (error) {
      logger.warn({ err: error, file: options.recordFile }, 'cannot record inspection events');
    }
  }
  if (options.inspect) sinks.push(createLivePage(options.inspectPort ?? 0, logger));
  if (sinks.length === 0) return { stop: async () => {} };

  let stopped = false;
  const inspector = createInspector(
    {
      send(event) {
        let line: string;
        let clean: StatelyEvent;
        try {
          clean = sanitizeInspectionEvent(event as unknown as StatelyEvent);
          line = JSON.stringify(clean);
        } catch {
          clean = { type: event.type, sessionId: event.sessionId, error: 'unserializable' };
          line = JSON.stringify(clean);
        }
        for (const sink of sinks) sink.send(line, clean);
      },
    },
    { autoStart: false },
  );

  let stopping: Promise<void> | undefined;
  return {
    observer: (event) => {
      if (stopped) return;
      try {
        inspector.inspect.next?.(event);
      } catch (error) {
        logger.debug({ err: error }, 'inspection event dropped');
      }
    },
    stop() {
      stopping ??= withDeadline(
        (async () => {
          // Let conversions already queued by the inspector reach the sinks, then close them.
          await afterPendingConversions();
          stopped = true;
          await Promise.all(sinks.map((sink) => sink.close()));
        })(),
        STOP_DEADLINE_MS,
      ).finally(() => {
        stopped = true;
      });
      return stopping;
    },
  };
}
