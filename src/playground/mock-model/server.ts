import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fallbackTurn } from './fallback.js';
import { recordRequest } from './request.js';
import type { RecordedRequest, ScriptedTurn, SseStep, StaticTurn } from './types.js';

export interface MockModel {
  /** `http://127.0.0.1:PORT/v1`; codex POSTs `${baseUrl}/responses`. */
  baseUrl: string;
  /** FIFO: each POST /v1/responses consumes one turn; an empty queue falls back to prompt markers. */
  enqueue(...turns: ScriptedTurn[]): void;
  /** Every POST /v1/responses, recorded on arrival (before it is answered). */
  requests: RecordedRequest[];
  /** Resolves once at least `n` requests arrived (default timeout 10 s). */
  waitForRequests(n: number, timeoutMs?: number): Promise<RecordedRequest[]>;
  /** Clears the queue and the request log. */
  reset(): void;
  close(): Promise<void>;
}

const controlPrefix = '/_mock/';

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

function isStaticTurn(value: unknown): value is StaticTurn {
  if (typeof value !== 'object' || value === null) return false;
  const turn = value as Record<string, unknown>;
  if (Array.isArray(turn.events)) return true;
  const http = turn.http as Record<string, unknown> | undefined;
  return typeof http === 'object' && http !== null && typeof http.status === 'number';
}

function sseFrame(event: SseStep & { type: string }): string {
  return `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

export async function startMockModel(opts: { port?: number } = {}): Promise<MockModel> {
  const queue: ScriptedTurn[] = [];
  const requests: RecordedRequest[] = [];
  const requestListeners = new Set<() => void>();
  // Resolvers of every pending delay/hang, so close() can end streams that would otherwise never finish.
  const pendingWaits = new Set<() => void>();
  let closed = false;

  /** Sleeps `ms` (forever when undefined); ends early when the client disconnects or the mock closes. */
  function wait(res: ServerResponse, ms?: number): Promise<void> {
    return new Promise((resolve) => {
      if (closed || res.destroyed) return resolve();
      const done = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        res.off('close', done);
        pendingWaits.delete(done);
        resolve();
      };
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      res.on('close', done);
      pendingWaits.add(done);
    });
  }

  function nextTurn(recorded: RecordedRequest): StaticTurn {
    let turn: ScriptedTurn = queue.shift() ?? fallbackTurn;
    // Function turns may return further functions; resolve until static.
    while (typeof turn === 'function') turn = turn(recorded);
    return turn;
  }

  async function answer(res: ServerResponse, turn: StaticTurn): Promise<void> {
    if ('http' in turn) {
      if (turn.delayMs) await wait(res, turn.delayMs);
      if (res.destroyed || closed) return;
      const { status, body, headers } = turn.http;
      const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
      res.writeHead(status, {
        'content-type': typeof body === 'string' ? 'text/plain' : 'application/json',
        ...headers,
      });
      res.end(text);
      return;
    }
    // Headers go out with the first real step, so a leading delay looks like a slow server.
    let headersSent = false;
    for (const step of turn.events) {
      if (res.destroyed || closed) return;
      if ('delayMs' in step && typeof step.delayMs === 'number') {
        await wait(res, step.delayMs);
        continue;
      }
      if (!headersSent) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        headersSent = true;
      }
      if ('hang' in step && step.hang === true) {
        res.flushHeaders();
        await wait(res);
        return;
      }
      if ('raw' in step && typeof step.raw === 'string') res.write(step.raw);
      else if ('type' in step && typeof step.type === 'string')
        res.write(sseFrame(step as SseStep & { type: string }));
    }
    if (!headersSent) res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end();
  }

  async function handleControl(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (req.method === 'GET' && path === 'requests') return sendJson(res, 200, requests);
    if (req.method === 'POST' && path === 'reset') {
      model.reset();
      return sendJson(res, 200, { ok: true });
    }
    if (req.method === 'POST' && path === 'enqueue') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(await readBody(req));
      } catch (error) {
        return sendJson(res, 400, { error: `invalid JSON: ${String(error)}` });
      }
      const turns = Array.isArray(parsed) ? parsed : [parsed];
      if (!turns.every(isStaticTurn)) {
        return sendJson(res, 400, { error: 'each turn must be {events: [...]} or {http: {status}}' });
      }
      queue.push(...turns);
      return sendJson(res, 200, { queued: queue.length });
    }
    return sendJson(res, 404, { error: `unknown control route ${req.method} /_mock/${path}` });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://mock').pathname;
    if (path.startsWith(controlPrefix)) return handleControl(req, res, path.slice(controlPrefix.length));
    if (req.method === 'POST' && path === '/v1/responses') {
      const recorded = recordRequest(await readBody(req), req.headers);
      requests.push(recorded);
      for (const listener of requestListeners) listener();
      return answer(res, nextTurn(recorded));
    }
    // Codex never asks for anything else (no /models); a loud 404 makes a surprise visible.
    return sendJson(res, 404, { error: { message: `mock has no route ${req.method} ${path}` } });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: { message: `mock crashed: ${String(error)}` } });
      else res.destroy();
    });
  });
  // Codex keeps connections alive between requests; do not let an idle socket delay close().
  server.keepAliveTimeout = 1_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  const model: MockModel = {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    enqueue(...turns) {
      queue.push(...turns);
    },
    waitForRequests(n, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (requests.length < n) return;
          cleanup();
          resolve([...requests]);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(`mock model: expected ${n} requests within ${timeoutMs} ms, got ${requests.length}`),
          );
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          requestListeners.delete(check);
        };
        requestListeners.add(check);
        check();
      });
    },
    reset() {
      queue.length = 0;
      requests.length = 0;
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const release of [...pendingWaits]) release();
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await stopped;
    },
  };
  return model;
}
