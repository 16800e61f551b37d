import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { AgentRunner } from '../../src/agents/types.js';
import { resolvePaths } from '../../src/config/paths.js';
import { configSchema, type LarkcodeConfig } from '../../src/config/schema.js';
import { emulatorAppConfig } from '../../src/playground/app-config.js';
import { type Daemon, startDaemon } from '../../src/runtime/daemon.js';
import { codexProviderConfig } from './codex-harness.js';
import { type FeishuEmulator, startFeishuEmulator } from './feishu-emulator/index.js';
import { type MockModel, startMockModel } from './mock-model/index.js';

export interface InProcessLarkcode {
  daemon: Daemon;
  home: string;
  workspace: string;
  config: LarkcodeConfig;
  logs: Record<string, unknown>[];
  stop(): Promise<void>;
}

/** larkcode's real composition root, in this process, pointed at the emulator and (unless replaced) the mock model. */
export async function startLarkcode(options: {
  emulator: FeishuEmulator;
  mockBaseUrl?: string;
  agent?: AgentRunner;
  config?: Partial<Record<keyof LarkcodeConfig, unknown>>;
  cardFlushIntervalMs?: number;
  cardStreamingRefreshMs?: number;
  liveness?: { checkEveryMs: number; quietAfterMs: number; answerWithinMs: number };
  /** The codex backend when the mock model is used (default: sdk). */
  codexBackend?: 'sdk' | 'app-server';
  /** Reuse a LARKCODE_HOME and workspace (a restart); they are then left in place on stop. */
  reuse?: { home: string; workspace: string };
}): Promise<InProcessLarkcode> {
  const home = options.reuse?.home ?? (await mkdtemp(join(tmpdir(), 'larkcode-home-')));
  const workspace = options.reuse?.workspace ?? (await mkdtemp(join(tmpdir(), 'larkcode-ws-')));
  const config = configSchema.parse({
    ...emulatorAppConfig(options.emulator, { workspace }),
    codex: options.mockBaseUrl
      ? {
          config: codexProviderConfig(options.mockBaseUrl),
          apiKey: 'sk-test',
          ...(options.codexBackend ? { backend: options.codexBackend } : {}),
        }
      : { config: {} },
    ...options.config,
  });
  const logs: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const daemon = await startDaemon({
    cardFlushIntervalMs: options.cardFlushIntervalMs ?? 300,
    ...(options.cardStreamingRefreshMs ? { cardStreamingRefreshMs: options.cardStreamingRefreshMs } : {}),
    ...(options.liveness ? { liveness: options.liveness } : {}),
    config,
    paths: resolvePaths({ LARKCODE_HOME: home }),
    logger,
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    ...(options.agent ? { agent: options.agent } : {}),
  });
  return {
    daemon,
    home,
    workspace,
    config,
    logs,
    stop: async () => {
      await daemon.stop();
      if (options.reuse) return;
      await rm(home, { recursive: true, force: true });
      await rm(workspace, { recursive: true, force: true });
    },
  };
}

export interface CodexStack {
  emulator: FeishuEmulator;
  mock: MockModel;
  larkcode: InProcessLarkcode;
  stop(): Promise<void>;
}

/** Emulator, mock model and larkcode in this process: the real node-sdk and the real codex binary. */
export async function startCodexStack(
  options: Omit<Parameters<typeof startLarkcode>[0], 'emulator' | 'mockBaseUrl'> = {},
): Promise<CodexStack> {
  const emulator = await startFeishuEmulator();
  const mock = await startMockModel();
  const larkcode = await startLarkcode({ emulator, mockBaseUrl: mock.baseUrl, ...options });
  await emulator.waitForClient();
  return {
    emulator,
    mock,
    larkcode,
    stop: async () => {
      await larkcode.stop();
      await mock.close();
      await emulator.close();
    },
  };
}
