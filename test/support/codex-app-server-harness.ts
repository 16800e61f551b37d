// The real `codex app-server` driven directly through CodexAppServer (no runner), against the mock
// model: one process per test file, and a turn helper that collects the thread's notifications;
// `runRequest` builds the requests the runner-level tests send.
import { realpath } from 'node:fs/promises';
import type {
  AppServerNotification,
  ThreadItem,
  ThreadResponse,
  ThreadStartParams,
  Turn,
} from '../../src/agents/codex-app-server/protocol.js';
import { CodexAppServer } from '../../src/agents/codex-app-server/server.js';
import type { RunRequest } from '../../src/agents/types.js';
import { codexChildEnv, codexProviderConfig, makeCodexHome, makeWorkspace } from './codex-harness.js';
import type { MockModel } from './mock-model/index.js';

export interface AppServerFixture {
  server: CodexAppServer;
  codexHome: string;
  /** Symlinks resolved: codex reports paths under the real directory. */
  workspace: string;
  close(): Promise<void>;
}

/** Merges `extra` into the mock provider config, nested tables key by key (`features` stays one table). */
function mergeConfig(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const prev = out[key];
    out[key] = isPlainObject(prev) && isPlainObject(value) ? mergeConfig(prev, value) : (value as unknown);
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A started app-server with its own CODEX_HOME and workspace, pointed at `mock`. */
export async function startAppServer(
  mock: MockModel,
  opts: { config?: Record<string, unknown> } = {},
): Promise<AppServerFixture> {
  const home = await makeCodexHome();
  const ws = await makeWorkspace();
  const server = new CodexAppServer({
    codexHome: home.codexHome,
    childEnv: codexChildEnv(home.codexHome),
    config: mergeConfig(codexProviderConfig(mock.baseUrl), opts.config ?? {}),
    apiKey: 'sk-test',
  });
  await server.start();
  return {
    server,
    codexHome: home.codexHome,
    workspace: await realpath(ws.dir),
    async close() {
      await server.close();
      await Promise.all([home.cleanup(), ws.cleanup()]);
    },
  };
}

export interface FinishedTurn {
  turn: Turn;
  /** Every notification of the thread from turn/start to turn/completed, in order. */
  notifications: AppServerNotification[];
  /** `item/completed` items, in order (turn.items only holds the final message). */
  items: ThreadItem[];
  /** Text of the last completed agentMessage. */
  finalText: string | undefined;
}

/** Starts a turn and waits for its `turn/completed`. */
export async function runTurn(
  server: CodexAppServer,
  threadId: string,
  text: string,
  timeoutMs = 15_000,
): Promise<FinishedTurn> {
  const notifications: AppServerNotification[] = [];
  let turnId: string | undefined;
  let finish: (turn: Turn) => void = () => {};
  const completed = new Promise<Turn>((resolve) => {
    finish = resolve;
  });
  // Subscribed before turn/start: the first notifications may arrive before its answer.
  const unsubscribe = server.subscribe(threadId, (notification) => {
    notifications.push(notification);
    checkCompleted();
  });
  function checkCompleted(): void {
    if (turnId === undefined) return;
    for (const { method, params } of notifications) {
      const turn = (params as { turn?: Turn }).turn;
      if (method === 'turn/completed' && turn?.id === turnId) finish(turn);
    }
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    const started = await server.startTurn({
      threadId,
      input: [{ type: 'text', text, text_elements: [] }],
    });
    turnId = started.turn.id;
    checkCompleted();
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`turn ${turnId} did not complete in ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    const turn = await Promise.race([completed, timeout]);
    const items = notifications
      .filter((n) => n.method === 'item/completed')
      .map((n) => (n.params as { item: ThreadItem }).item);
    const messages = items.filter(
      (item): item is Extract<ThreadItem, { type: 'agentMessage' }> => item.type === 'agentMessage',
    );
    return { turn, notifications, items, finalText: messages.at(-1)?.text };
  } finally {
    clearTimeout(timer);
    unsubscribe();
  }
}

/** thread/start in `cwd` with workspace-write; approvalPolicy `never` unless given. */
export function startThread(
  server: CodexAppServer,
  cwd: string,
  params: ThreadStartParams = {},
): Promise<ThreadResponse> {
  return server.startThread({ cwd, sandbox: 'workspace-write', approvalPolicy: 'never', ...params });
}

/** A run request in `workspace` under workspace-write, no network; a fresh run id each time. */
export function runRequest(
  prompt: string,
  at: { workspace: string; scopeId: string; sessionId?: string | undefined },
): RunRequest {
  return {
    runId: `run-${Math.random().toString(36).slice(2)}`,
    scopeId: at.scopeId,
    prompt,
    ...(at.sessionId ? { sessionId: at.sessionId } : {}),
    workspace: at.workspace,
    sandbox: 'workspace-write',
    networkAccess: false,
  };
}
