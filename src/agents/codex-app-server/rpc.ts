import type { ChildProcessWithoutNullStreams } from 'node:child_process';

/**
 * A small JSON-RPC client over a child process's stdio, as `codex app-server` speaks it:
 * one JSON object per line in both directions, no `"jsonrpc"` field. Three kinds of message
 * arrive: responses (`id`, no `method`), notifications (`method`, no `id`) and server requests
 * (`method` and `id`), which are answered with `{id, result}` once the handler settles — an
 * approval may be answered minutes later.
 * Facts: shared/research/codex-app-server-offline.md §1.
 */

export type RpcId = number | string;

export interface RpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

/** The server answered a request with an error (codex uses -32600 for all; match on the message). */
export class RpcError extends Error {
  readonly code: number;
  readonly data: unknown;
  constructor(
    readonly method: string,
    error: RpcErrorObject,
  ) {
    super(error.message);
    this.name = 'RpcError';
    this.code = error.code;
    this.data = error.data;
  }
}

/** No answer in time. The request may still be processed by the server. */
export class RpcTimeoutError extends Error {
  constructor(
    readonly method: string,
    readonly timeoutMs: number,
  ) {
    super(`${method}: no answer within ${timeoutMs} ms`);
    this.name = 'RpcTimeoutError';
  }
}

/** The process is gone (or was never started); pending and later requests reject with this. */
export class RpcClosedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RpcClosedError';
  }
}

export interface RpcExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be spawned or its pipes failed. */
  error?: Error;
  /** Whether `close()` asked for it. */
  requested: boolean;
}

export type NotificationListener = (method: string, params: unknown) => void;

/** Answers one server request; the resolved value is sent as `result`, a throw as an `error`. */
export type ServerRequestHandler = (method: string, params: unknown, id: RpcId) => unknown;

export interface JsonRpcClientOptions {
  /** Default timeout of `request()`; 0 disables it. Default 30 s. */
  requestTimeoutMs?: number;
  /** How much of stderr is kept for error messages (the tail). Default 16 KiB. */
  stderrLimit?: number;
  /** Default grace of `close()` between stdin EOF, SIGTERM and SIGKILL. Default 2 s. */
  closeGraceMs?: number;
  /** Names the process in error messages. Default `the child process`. */
  label?: string;
  /** stderr lines left out of error messages (known, harmless warnings). */
  stderrNoise?: readonly RegExp[];
  onServerRequest?: ServerRequestHandler;
}

interface Pending {
  method: string;
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout | undefined;
}

/** After `exit`, how long to wait for stdout to close (its last lines still count) before failing pending calls. */
const stdioDrainMs = 250;

export class JsonRpcClient {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #pending = new Map<RpcId, Pending>();
  readonly #listeners = new Set<NotificationListener>();
  readonly #requestTimeoutMs: number;
  readonly #stderrLimit: number;
  readonly #closeGraceMs: number;
  readonly #label: string;
  readonly #stderrNoise: readonly RegExp[];
  #handler: ServerRequestHandler | undefined;
  #nextId = 1;
  #buffer = '';
  #stderr = '';
  #exit: RpcExit | undefined;
  #closeRequested = false;
  #closedError: RpcClosedError | undefined;
  readonly #exited: Promise<RpcExit>;
  #resolveExited!: (exit: RpcExit) => void;

  constructor(child: ChildProcessWithoutNullStreams, options: JsonRpcClientOptions = {}) {
    this.#child = child;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.#stderrLimit = options.stderrLimit ?? 16 * 1024;
    this.#closeGraceMs = options.closeGraceMs ?? 2_000;
    this.#label = options.label ?? 'the child process';
    this.#stderrNoise = options.stderrNoise ?? [];
    this.#handler = options.onServerRequest;
    this.#exited = new Promise((resolve) => {
      this.#resolveExited = resolve;
    });

    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => this.#onStdout(chunk));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-this.#stderrLimit);
    });
    // EPIPE after the process died: the exit path reports it.
    child.stdin.on('error', () => {});
    child.stdout.on('error', () => {});
    child.stderr.on('error', () => {});

    let drainTimer: NodeJS.Timeout | undefined;
    child.once('error', (error) => this.#finish({ code: null, signal: null, error }));
    child.once('exit', (code, signal) => {
      // Normally 'close' follows at once; a grandchild holding stdout open must not keep calls pending.
      drainTimer = setTimeout(() => this.#finish({ code, signal }), stdioDrainMs);
      drainTimer.unref();
    });
    child.once('close', (code, signal) => {
      if (drainTimer) clearTimeout(drainTimer);
      this.#finish({ code, signal });
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** True once the process has exited (or failed to start); every request then rejects. */
  get closed(): boolean {
    return this.#exit !== undefined;
  }

  /** Resolves when the process is gone, with how it ended. */
  get exited(): Promise<RpcExit> {
    return this.#exited;
  }

  /** The last bytes of stderr (bounded), without the known noise. */
  stderrTail(): string {
    return this.#stderr
      .split('\n')
      .filter((line) => !this.#stderrNoise.some((noise) => noise.test(line)))
      .join('\n')
      .trim();
  }

  onNotification(listener: NotificationListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  setServerRequestHandler(handler: ServerRequestHandler | undefined): void {
    this.#handler = handler;
  }

  request<T = unknown>(
    method: string,
    params?: unknown,
    opts: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<T> {
    if (this.#closedError) return Promise.reject(this.#closedError);
    if (opts.signal?.aborted) return Promise.reject(abortError(opts.signal));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? this.#requestTimeoutMs;
      const settle = () => {
        if (entry.timer) clearTimeout(entry.timer);
        this.#pending.delete(id);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      const entry: Pending = {
        method,
        resolve: (value) => {
          settle();
          resolve(value as T);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
        timer:
          timeoutMs > 0
            ? setTimeout(() => entry.reject(new RpcTimeoutError(method, timeoutMs)), timeoutMs)
            : undefined,
      };
      const onAbort = () => entry.reject(abortError(opts.signal!));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, entry);
      this.#send({ id, method, ...(params === undefined ? {} : { params }) });
    });
  }

  notify(method: string, params?: unknown): void {
    if (this.#closedError) return;
    this.#send({ method, ...(params === undefined ? {} : { params }) });
  }

  /**
   * Ends the process: stdin EOF (codex exits in ~20 ms, even mid-turn), SIGTERM after the grace,
   * SIGKILL after another. Resolves once it is gone.
   */
  async close(graceMs = this.#closeGraceMs): Promise<RpcExit> {
    if (this.#exit) return this.#exit;
    this.#closeRequested = true;
    this.#child.stdin.end();
    const escalate = (signal: NodeJS.Signals, afterMs: number) => {
      const timer = setTimeout(() => {
        if (!this.#exit) this.#child.kill(signal);
      }, afterMs);
      timer.unref();
      return timer;
    };
    const term = escalate('SIGTERM', graceMs);
    const kill = escalate('SIGKILL', graceMs * 2);
    const exit = await this.#exited;
    clearTimeout(term);
    clearTimeout(kill);
    return exit;
  }

  /** The message pending calls reject with once the process is gone. */
  describeExit(exit: RpcExit): string {
    let how: string;
    if (exit.error) how = `could not run: ${exit.error.message}`;
    else if (exit.requested) how = 'was stopped';
    else if (exit.signal) how = `was killed by ${exit.signal}`;
    else how = `exited with code ${exit.code}`;
    const stderr = this.stderrTail();
    const tail = stderr ? ` (stderr: ${lastLines(stderr, 3, 600)})` : '';
    return `${this.#label} ${how}${tail}`;
  }

  #send(message: object): void {
    try {
      this.#child.stdin.write(`${JSON.stringify(message)}\n`);
    } catch {
      // The stream is already destroyed: the exit path rejects what is pending.
    }
  }

  #onStdout(chunk: string): void {
    this.#buffer += chunk;
    let newline = this.#buffer.indexOf('\n');
    while (newline !== -1) {
      const line = this.#buffer.slice(0, newline).trim();
      this.#buffer = this.#buffer.slice(newline + 1);
      if (line) this.#onLine(line);
      newline = this.#buffer.indexOf('\n');
    }
  }

  #onLine(line: string): void {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      return; // not ours (a stray log line); the protocol never splits a message over lines
    }
    if (typeof message !== 'object' || message === null) return;
    const { id, method, params, result, error } = message as {
      id?: RpcId;
      method?: unknown;
      params?: unknown;
      result?: unknown;
      error?: RpcErrorObject;
    };
    const hasId = typeof id === 'number' || typeof id === 'string';
    if (typeof method === 'string') {
      if (hasId) this.#onServerRequest(id, method, params);
      else for (const listener of [...this.#listeners]) safely(() => listener(method, params));
      return;
    }
    if (!hasId) return;
    const pending = this.#pending.get(id);
    if (!pending) return; // timed out or aborted meanwhile
    if (error) pending.reject(new RpcError(pending.method, error));
    else pending.resolve(result);
  }

  #onServerRequest(id: RpcId, method: string, params: unknown): void {
    const handler = this.#handler;
    if (!handler) {
      this.#send({ id, error: { code: -32601, message: `client does not handle ${method}` } });
      return;
    }
    Promise.resolve()
      .then(() => handler(method, params, id))
      .then(
        (result) => this.#send({ id, result: result ?? null }),
        (error: unknown) =>
          this.#send({
            id,
            error: { code: -32603, message: error instanceof Error ? error.message : String(error) },
          }),
      );
  }

  #finish(exit: Omit<RpcExit, 'requested'>): void {
    if (this.#exit) return;
    const full: RpcExit = { ...exit, requested: this.#closeRequested };
    this.#exit = full;
    this.#closedError = new RpcClosedError(this.describeExit(full));
    for (const pending of [...this.#pending.values()]) pending.reject(this.#closedError);
    this.#resolveExited(full);
  }
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted');
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // A listener's bug must not break the read loop.
  }
}

/** The last `count` non-empty lines of `text`, at most `maxChars`. */
export function lastLines(text: string, count: number, maxChars: number): string {
  const lines = text
    // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes in Rust logs
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  return lines.slice(-count).join('\n').slice(-maxChars);
}
