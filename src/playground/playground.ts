import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { resolvePaths } from '../config/paths.js';
import { configSchema } from '../config/schema.js';
import { type Daemon, startDaemon } from '../runtime/daemon.js';
import { emulatorAppConfig } from './app-config.js';
import { type FeishuEmulator, startFeishuEmulator } from './emulator/index.js';
import { codexProviderConfig } from './mock-model/codex-provider.js';
import { type MockModel, startMockModel } from './mock-model/index.js';
import { playgroundPage } from './page.js';

export interface PlaygroundOptions {
  /** Port of the chat page (0: any free port). */
  port?: number;
  /** Use the scripted mock model even when agent credentials are found. */
  offline?: boolean;
  env: NodeJS.ProcessEnv;
  logger: Logger;
}

export interface Playground {
  url: string;
  /** 'agent': codex with the user's own credentials; 'offline': the scripted demo model. */
  mode: 'agent' | 'offline';
  workspace: string;
  stop(): Promise<void>;
}

/** Credentials codex would find: an API key in the environment, or a `codex login` in ~/.codex. */
export function agentCredentialsFound(env: NodeJS.ProcessEnv): boolean {
  if (env.OPENAI_API_KEY || env.CODEX_API_KEY) return true;
  const codexHome = env.CODEX_HOME ?? join(env.HOME ?? homedir(), '.codex');
  return existsSync(join(codexHome, 'auth.json'));
}

/**
 * Try larkcode with no Feishu app: a local Feishu emulator, larkcode connected to it through the
 * real SDK, and a small chat page on loopback that shows its cards and sends button presses
 * through the real callback path. Without agent credentials (or with `offline`), codex runs for
 * real against a scripted mock model in a scratch workspace — labelled as such on the page.
 */
export async function startPlayground(options: PlaygroundOptions): Promise<Playground> {
  const { env, logger } = options;
  const offline = options.offline || !agentCredentialsFound(env);
  const emulator = await startFeishuEmulator();
  let mock: MockModel | undefined;
  let daemon: Daemon | undefined;
  try {
    const home = await mkdtemp(join(tmpdir(), 'larkcode-playground-'));
    const workspace = await mkdtemp(join(tmpdir(), 'larkcode-playground-ws-'));
    if (offline) mock = await startMockModel();
    const config = configSchema.parse(
      emulatorAppConfig(emulator, {
        workspace,
        runs: { debounceMs: 300 },
        // The app-server backend: text streams as it is written, approvals and questions come as cards.
        codex: mock
          ? { config: codexProviderConfig(mock.baseUrl), apiKey: 'sk-offline-demo', backend: 'app-server' }
          : {
              config: {},
              auth: env.OPENAI_API_KEY || env.CODEX_API_KEY ? 'api-key' : 'inherit-user',
              backend: 'app-server',
            },
      }),
    );
    daemon = await startDaemon({ config, paths: resolvePaths({ LARKCODE_HOME: home }), logger, env });
    const { chatId } = emulator.createChat({ mode: 'p2p', name: 'larkcode playground' });
    const mode = offline ? 'offline' : 'agent';
    const server = createServer((req, res) => {
      handle(req, res, { emulator, chatId, mode, workspace }).catch((error: unknown) => {
        logger.error({ err: error }, 'playground request failed');
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const runningDaemon = daemon;
    const runningMock = mock;
    return {
      url,
      mode,
      workspace,
      stop: async () => {
        await new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await runningDaemon.stop();
        await runningMock?.close();
        await emulator.close();
      },
    };
  } catch (error) {
    await daemon?.stop();
    await mock?.close();
    await emulator.close();
    throw error;
  }
}

interface PageContext {
  emulator: FeishuEmulator;
  chatId: string;
  mode: 'agent' | 'offline';
  workspace: string;
}

async function handle(req: IncomingMessage, res: ServerResponse, ctx: PageContext): Promise<void> {
  // Loopback only, and no page of another origin may drive the agent through this one.
  const host = req.headers.host ?? '';
  if (!/^(127\.0\.0\.1|localhost)(:\d+)?$/.test(host)) return void res.writeHead(403).end();
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  if (req.method === 'GET' && url.pathname === '/') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    return void res.end(playgroundPage({ mode: ctx.mode, workspace: ctx.workspace }));
  }
  if (req.method === 'GET' && url.pathname === '/api/view') {
    return json(res, 200, ctx.emulator.view(ctx.chatId));
  }
  if (req.method === 'POST' && url.pathname === '/api/send') {
    const body = (await readJson(req)) as { text?: unknown };
    if (typeof body.text !== 'string' || !body.text.trim())
      return json(res, 400, { error: 'text is required' });
    const sent = await ctx.emulator.pushMessage({ chatId: ctx.chatId, text: body.text });
    return json(res, 200, { messageId: sent.messageId });
  }
  if (req.method === 'POST' && url.pathname === '/api/press') {
    const body = (await readJson(req)) as { messageId?: unknown; value?: unknown };
    if (typeof body.messageId !== 'string' || typeof body.value !== 'object' || body.value === null) {
      return json(res, 400, { error: 'messageId and value are required' });
    }
    const pressed = await ctx.emulator.pushCardAction({
      messageId: body.messageId,
      value: body.value as object,
    });
    const toast = (pressed.acks[0]?.data as { toast?: { content?: string; type?: string } } | undefined)
      ?.toast;
    return json(res, 200, { toast: toast ?? null });
  }
  res.writeHead(404).end();
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > 64 * 1024) throw new Error('request too large');
  }
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}
