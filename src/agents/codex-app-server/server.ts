import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { codexChildEnvironment, providerKeyNames } from '../codex-sdk/env.js';
import type {
  AppServerNotification,
  ThreadForkParams,
  ThreadListParams,
  ThreadListResponse,
  ThreadResponse,
  ThreadResumeParams,
  ThreadStartParams,
  ThreadSummary,
  Turn,
  TurnInterruptParams,
  TurnStartParams,
  TurnSteerParams,
} from './protocol.js';
import { JsonRpcClient, RpcClosedError, type RpcExit, type ServerRequestHandler } from './rpc.js';

/**
 * One long-lived `codex app-server` process (JSON-RPC over stdio) serving many threads.
 * Spawned on first use and again after it died: a dead process rejects every pending call
 * with a clear error, and the next call starts a fresh one (threads are then `notLoaded`
 * until `thread/resume`). Facts: shared/research/codex-app-server-offline.md.
 */

export interface CodexAppServerOptions {
  /** Isolated CODEX_HOME for this profile: thread state lives here, resume needs the same one. */
  codexHome: string;
  /** Codex config overrides, the same object the codex-sdk backend takes; passed as `-c key=value`. */
  config?: Record<string, unknown>;
  /** API key, in this child's environment only (as CODEX_API_KEY, like the SDK does). */
  apiKey?: string;
  /** The codex binary, or a `codex.js` launcher (run with this Node). Default: the native binary. */
  codexPath?: string;
  /** The child's whole environment. Default: `codexChildEnvironment(process.env)`. CODEX_HOME is forced. */
  childEnv?: Record<string, string>;
  /** RUST_LOG for the child; its stderr tail goes into error messages. Default `warn`. */
  rustLog?: string;
  clientInfo?: { name: string; title?: string | null; version: string };
  /** Default timeout of a request. Default 30 s. */
  requestTimeoutMs?: number;
  /** Spawn → `initialize` answered. Default 20 s. */
  startTimeoutMs?: number;
  /** Grace between stdin EOF, SIGTERM and SIGKILL on close. Default 2 s. */
  closeGraceMs?: number;
  /** Notifications this client never wants (exact names). Default {@link defaultOptOutNotifications}. */
  optOutNotificationMethods?: readonly string[];
  /** Unlocks experimental methods and fields (`thread/backgroundTerminals/*`, …). Default false. */
  experimentalApi?: boolean;
  /** Answers server requests (approvals, questions). Default: a JSON-RPC error, which codex treats as a decline. */
  onServerRequest?: ServerRequestHandler;
}

/** Noise for larkcode: rate-limit pings with nulls, remote control, per-chunk command output, repeated diffs. */
export const defaultOptOutNotifications: readonly string[] = [
  'account/rateLimits/updated',
  'remoteControl/status/changed',
  'item/commandExecution/outputDelta',
  'turn/diff/updated',
];

/** stderr lines that say nothing about why the process ended. */
const stderrNoise: readonly RegExp[] = [
  /could not find bubblewrap/i,
  /overrides ignored for loaded thread/i,
  /could not create PATH aliases/i,
];

/** `generation` numbers the processes: 1 for the first, 2 after the first restart, … */
export type AppServerExitListener = (error: RpcClosedError, exit: RpcExit, generation: number) => void;

interface Connection {
  rpc: JsonRpcClient;
  generation: number;
}

export class CodexAppServer {
  readonly #options: CodexAppServerOptions;
  readonly #threadListeners = new Map<string, Set<(n: AppServerNotification) => void>>();
  readonly #listeners = new Set<(n: AppServerNotification) => void>();
  readonly #exitListeners = new Set<AppServerExitListener>();
  #serverRequestHandler: ServerRequestHandler | undefined;
  #connection: Promise<Connection> | undefined;
  #current: Connection | undefined;
  #generation = 0;
  #closed = false;

  constructor(options: CodexAppServerOptions) {
    this.#options = options;
    this.#serverRequestHandler = options.onServerRequest;
  }

  /** The running process's pid, if one is up. */
  get pid(): number | undefined {
    return this.#current && !this.#current.rpc.closed ? this.#current.rpc.pid : undefined;
  }

  /** How many processes were started so far (a restart increments it). */
  get generation(): number {
    return this.#generation;
  }

  /** Spawns and initializes the process unless one is running; resolves once it answers. */
  async start(): Promise<void> {
    await this.#connect();
  }

  /** Any request, after the process is up. */
  async request<T>(method: string, params?: unknown, opts: { timeoutMs?: number } = {}): Promise<T> {
    const { rpc } = await this.#connect();
    return rpc.request<T>(method, params, opts);
  }

  startThread(params: ThreadStartParams): Promise<ThreadResponse> {
    return this.request('thread/start', params);
  }

  resumeThread(params: ThreadResumeParams): Promise<ThreadResponse> {
    return this.request('thread/resume', params);
  }

  /** A new thread with a copy of the history (through `lastTurnId`); send the sandbox again, as for resume. */
  forkThread(params: ThreadForkParams): Promise<ThreadResponse> {
    return this.request('thread/fork', params);
  }

  /** Stored threads, newest first; archived ones only with `archived: true`. Page with `nextCursor`. */
  listThreads(params: ThreadListParams = {}): Promise<ThreadListResponse> {
    return this.request('thread/list', params);
  }

  /** One stored thread, loaded or not; its turns (with items) only when asked. */
  async readThread(threadId: string, includeTurns = false): Promise<ThreadSummary> {
    const { thread } = await this.request<{ thread: ThreadSummary }>('thread/read', {
      threadId,
      includeTurns,
    });
    return thread;
  }

  /** Hides the thread from `listThreads` and unloads it: `turn/start` then fails with `thread not found`. */
  async archiveThread(threadId: string): Promise<void> {
    await this.request('thread/archive', { threadId });
  }

  /** Lists it again; like any stored thread it needs `thread/resume` before the next turn. */
  async unarchiveThread(threadId: string): Promise<ThreadSummary> {
    const { thread } = await this.request<{ thread: ThreadSummary }>('thread/unarchive', { threadId });
    return thread;
  }

  /** The title `listThreads` shows as `name`; forks inherit it. */
  async setThreadName(threadId: string, name: string): Promise<void> {
    await this.request('thread/name/set', { threadId, name });
  }

  /**
   * Starts a turn; `generation` is the process running it (see {@link onExit}). On a thread with an
   * active turn this acts as a steer and returns that turn: serialise turns per thread.
   */
  async startTurn(params: TurnStartParams): Promise<{ turn: Turn; generation: number }> {
    const { rpc, generation } = await this.#connect();
    const { turn } = await rpc.request<{ turn: Turn }>('turn/start', params);
    return { turn, generation };
  }

  /** Injects input into the active turn; fails with `no active turn to steer` when there is none. */
  steerTurn(params: TurnSteerParams): Promise<{ turnId: string }> {
    return this.request('turn/steer', params);
  }

  /** Whether experimental methods (background terminals) were unlocked at `initialize`. */
  get experimental(): boolean {
    return this.#options.experimentalApi === true;
  }

  /**
   * Kills the thread's commands still running after an interrupt (they outlive `turn/interrupt`).
   * Needs `experimentalApi`; resolves quietly when the server has no such method.
   */
  async cleanBackgroundTerminals(threadId: string): Promise<void> {
    if (!this.experimental) return;
    await this.request('thread/backgroundTerminals/clean', { threadId }, { timeoutMs: 5_000 });
  }

  /** Ends the turn (`turn/completed` interrupted follows in ~20 ms); running commands keep running. */
  async interruptTurn(params: TurnInterruptParams): Promise<void> {
    await this.request('turn/interrupt', params, { timeoutMs: 5_000 });
  }

  /** Notifications about one thread (by `params.threadId`, or `params.thread.id`). */
  subscribe(threadId: string, listener: (notification: AppServerNotification) => void): () => void {
    let set = this.#threadListeners.get(threadId);
    if (!set) {
      set = new Set();
      this.#threadListeners.set(threadId, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.#threadListeners.get(threadId) === set)
        this.#threadListeners.delete(threadId);
    };
  }

  /** Every notification, threaded or not (configWarning, warnings, …). */
  onNotification(listener: (notification: AppServerNotification) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Called each time a process ends, expected or not, with the error its pending calls got. */
  onExit(listener: AppServerExitListener): () => void {
    this.#exitListeners.add(listener);
    return () => this.#exitListeners.delete(listener);
  }

  setServerRequestHandler(handler: ServerRequestHandler | undefined): void {
    this.#serverRequestHandler = handler;
    this.#current?.rpc.setServerRequestHandler(this.#dispatchServerRequest);
  }

  /** Stops the process (stdin EOF, then SIGTERM, then SIGKILL) and refuses to start another. */
  async close(): Promise<void> {
    this.#closed = true;
    const connection = await this.#connection?.catch(() => undefined);
    await connection?.rpc.close();
  }

  /** Stops the current process but allows the next call to start a new one. */
  async restart(): Promise<void> {
    const connection = await this.#connection?.catch(() => undefined);
    await connection?.rpc.close();
    await this.start();
  }

  #connect(): Promise<Connection> {
    if (this.#closed) return Promise.reject(new RpcClosedError('codex app-server is closed'));
    if (this.#connection && !(this.#current?.rpc.closed ?? false)) return this.#connection;
    const connecting = this.#spawn();
    this.#connection = connecting;
    connecting.catch(() => {
      if (this.#connection === connecting) this.#connection = undefined;
    });
    return connecting;
  }

  async #spawn(): Promise<Connection> {
    const options = this.#options;
    const launch = resolveCodexCommand(options.codexPath);
    const env = this.#childEnv(launch.pathDirs);
    const args = [...launch.args, 'app-server', ...configOverrideArgs(options.config ?? {})];
    const child = spawn(launch.command, args, {
      env,
      cwd: options.codexHome,
      stdio: ['pipe', 'pipe', 'pipe'],
    }) as ChildProcessWithoutNullStreams;
    const generation = ++this.#generation;
    const rpc = new JsonRpcClient(child, {
      label: 'codex app-server',
      stderrNoise: stderrNoise,
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      closeGraceMs: options.closeGraceMs ?? 2_000,
      onServerRequest: this.#dispatchServerRequest,
    });
    const connection: Connection = { rpc, generation };
    this.#current = connection;
    rpc.onNotification((method, params) => this.#route({ method, params }));
    void rpc.exited.then((exit) => {
      const error = new RpcClosedError(rpc.describeExit(exit));
      for (const listener of [...this.#exitListeners]) {
        try {
          listener(error, exit, generation);
        } catch {
          // A listener's bug must not stop the others.
        }
      }
    });

    const clientInfo = options.clientInfo ?? { name: 'larkcode', title: 'larkcode', version: '0.1.0' };
    try {
      await rpc.request(
        'initialize',
        {
          clientInfo: { title: null, ...clientInfo },
          capabilities: {
            experimentalApi: options.experimentalApi ?? false,
            requestAttestation: false,
            optOutNotificationMethods: [...(options.optOutNotificationMethods ?? defaultOptOutNotifications)],
          },
        },
        { timeoutMs: options.startTimeoutMs ?? 20_000 },
      );
    } catch (error) {
      await rpc.close(500);
      throw error instanceof RpcClosedError
        ? error
        : new RpcClosedError(`codex app-server did not start: ${(error as Error).message}`);
    }
    rpc.notify('initialized');
    return connection;
  }

  #childEnv(pathDirs: string[]): Record<string, string> {
    const options = this.#options;
    const base =
      options.childEnv ??
      codexChildEnvironment(process.env, {
        codexHome: options.codexHome,
        passKeys: providerKeyNames(options.config ?? {}),
      });
    const env: Record<string, string> = { ...base, CODEX_HOME: options.codexHome };
    env.RUST_LOG = options.rustLog ?? 'warn';
    if (options.apiKey) env.CODEX_API_KEY = options.apiKey;
    if (pathDirs.length > 0) env.PATH = [...pathDirs, env.PATH].filter(Boolean).join(delimiter);
    // codex refuses to create its helper links under the system temp dir; its own TMPDIR must exist.
    if (env.TMPDIR) mkdirSync(env.TMPDIR, { recursive: true, mode: 0o700 });
    return env;
  }

  #dispatchServerRequest: ServerRequestHandler = (method, params, id) => {
    const handler = this.#serverRequestHandler;
    if (!handler) throw new Error(`larkcode does not handle ${method} yet`);
    return handler(method, params, id);
  };

  #route(notification: AppServerNotification): void {
    for (const listener of [...this.#listeners]) safely(() => listener(notification));
    const threadId = threadIdOf(notification.params);
    if (!threadId) return;
    const set = this.#threadListeners.get(threadId);
    if (!set) return;
    for (const listener of [...set]) safely(() => listener(notification));
  }
}

function threadIdOf(params: unknown): string | undefined {
  if (typeof params !== 'object' || params === null) return undefined;
  const p = params as { threadId?: unknown; thread?: { id?: unknown } };
  if (typeof p.threadId === 'string') return p.threadId;
  if (typeof p.thread?.id === 'string') return p.thread.id;
  return undefined;
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // A listener's bug must not break routing.
  }
}

// --- locating codex -------------------------------------------------------------------------

const TARGET_TRIPLES: Record<string, string | undefined> = {
  'linux-x64': 'x86_64-unknown-linux-musl',
  'linux-arm64': 'aarch64-unknown-linux-musl',
  'android-x64': 'x86_64-unknown-linux-musl',
  'android-arm64': 'aarch64-unknown-linux-musl',
  'darwin-x64': 'x86_64-apple-darwin',
  'darwin-arm64': 'aarch64-apple-darwin',
  'win32-x64': 'x86_64-pc-windows-msvc',
  'win32-arm64': 'aarch64-pc-windows-msvc',
};

const PLATFORM_PACKAGES: Record<string, string> = {
  'x86_64-unknown-linux-musl': '@openai/codex-linux-x64',
  'aarch64-unknown-linux-musl': '@openai/codex-linux-arm64',
  'x86_64-apple-darwin': '@openai/codex-darwin-x64',
  'aarch64-apple-darwin': '@openai/codex-darwin-arm64',
  'x86_64-pc-windows-msvc': '@openai/codex-win32-x64',
  'aarch64-pc-windows-msvc': '@openai/codex-win32-arm64',
};

export interface CodexCommand {
  command: string;
  /** Leading arguments (the launcher script when codex runs through Node). */
  args: string[];
  /** Directories codex expects first on PATH (the bundled `rg`). */
  pathDirs: string[];
}

/**
 * The native binary from `@openai/codex`'s platform package
 * (`<pkg>/vendor/<triple>/bin/codex`), else `@openai/codex/bin/codex.js` run with this Node.
 */
export function resolveCodexCommand(codexPath?: string): CodexCommand {
  if (codexPath) {
    return codexPath.endsWith('.js')
      ? { command: process.execPath, args: [codexPath], pathDirs: [] }
      : { command: codexPath, args: [], pathDirs: [] };
  }
  const require = createRequire(import.meta.url);
  let codexPackageJson: string;
  try {
    codexPackageJson = require.resolve('@openai/codex/package.json');
  } catch {
    throw new Error('codex is not installed: @openai/codex was not found (or set codex.path)');
  }
  const triple = TARGET_TRIPLES[`${process.platform}-${process.arch}`];
  const platformPackage = triple ? PLATFORM_PACKAGES[triple] : undefined;
  if (triple && platformPackage) {
    try {
      const vendor = join(
        dirname(createRequire(codexPackageJson).resolve(`${platformPackage}/package.json`)),
        'vendor',
        triple,
      );
      const binary = join(vendor, 'bin', process.platform === 'win32' ? 'codex.exe' : 'codex');
      const legacy = join(vendor, 'codex', process.platform === 'win32' ? 'codex.exe' : 'codex');
      const pathDir = join(vendor, 'codex-path');
      const pathDirs = existsSync(pathDir) ? [pathDir] : [];
      if (existsSync(binary)) return { command: binary, args: [], pathDirs };
      if (existsSync(legacy)) return { command: legacy, args: [], pathDirs };
    } catch {
      // The optional platform package is missing: fall back to the launcher.
    }
  }
  return {
    command: process.execPath,
    args: [join(dirname(codexPackageJson), 'bin', 'codex.js')],
    pathDirs: [],
  };
}

// --- config overrides -----------------------------------------------------------------------

/**
 * `-c key=value` arguments for a codex config object, flattened like the codex SDK does
 * (`model_providers.mock.base_url="…"`); values are TOML (strings JSON-quoted).
 */
export function configOverrideArgs(config: Record<string, unknown>): string[] {
  const overrides: string[] = [];
  flatten(config, '', overrides);
  return overrides.flatMap((override) => ['-c', override]);
}

function flatten(value: Record<string, unknown>, prefix: string, out: string[]): void {
  const entries = Object.entries(value).filter(([, child]) => child !== undefined);
  if (prefix && entries.length === 0) {
    out.push(`${prefix}={}`);
    return;
  }
  for (const [key, child] of entries) {
    if (!key) throw new Error('codex config keys must be non-empty');
    const path = prefix ? `${prefix}.${key}` : key;
    if (isPlainObject(child)) flatten(child, path, out);
    else out.push(`${path}=${toToml(child, path)}`);
  }
}

function toToml(value: unknown, path: string): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`codex config ${path} must be a finite number`);
    return String(value);
  }
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) return `[${value.map((v, i) => toToml(v, `${path}[${i}]`)).join(', ')}]`;
  if (isPlainObject(value)) {
    const parts = Object.entries(value)
      .filter(([, child]) => child !== undefined)
      .map(([key, child]) => `${formatTomlKey(key)} = ${toToml(child, `${path}.${key}`)}`);
    return `{${parts.join(', ')}}`;
  }
  throw new Error(`codex config ${path}: unsupported value ${value === null ? 'null' : typeof value}`);
}

function formatTomlKey(key: string): string {
  return /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
