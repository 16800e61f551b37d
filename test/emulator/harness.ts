// Starts the real SDK trio (Client, WSClient, EventDispatcher) against an emulator.
import * as lark from '@larksuiteoapi/node-sdk';
import type { FeishuEmulator } from '../support/feishu-emulator/index.js';

export interface CapturingLogger {
  errors: unknown[][];
  error: (...msg: unknown[]) => void;
  warn: (...msg: unknown[]) => void;
  info: (...msg: unknown[]) => void;
  debug: (...msg: unknown[]) => void;
  trace: (...msg: unknown[]) => void;
}

/** Keeps SDK output out of the test log while letting tests assert on logged errors. */
export function capturingLogger(): CapturingLogger {
  const errors: unknown[][] = [];
  return {
    errors,
    error: (...msg) => {
      errors.push(msg);
    },
    warn: () => undefined,
    info: () => undefined,
    debug: () => undefined,
    trace: () => undefined,
  };
}

export function sdkClient(emu: FeishuEmulator, logger = capturingLogger()): lark.Client {
  return new lark.Client({
    appId: emu.appId,
    appSecret: emu.appSecret,
    domain: emu.url,
    cache: new lark.DefaultCache(),
    logger,
    loggerLevel: lark.LoggerLevel.error,
  });
}

// biome-ignore lint/suspicious/noExplicitAny: SDK event payloads are untyped for extra keys.
export type Handler = (data: any) => unknown;

export interface Bot {
  client: lark.Client;
  ws: lark.WSClient;
  logger: CapturingLogger;
  close(): void;
}

/** Connects a WSClient with the given handlers and waits until the emulator saw its first ping. */
export async function startBot(emu: FeishuEmulator, handlers: Record<string, Handler>): Promise<Bot> {
  const logger = capturingLogger();
  const dispatcher = new lark.EventDispatcher({ logger, loggerLevel: lark.LoggerLevel.error }).register(
    handlers as Record<string, (data: unknown) => Promise<unknown>>,
  );
  const ws = new lark.WSClient({
    appId: emu.appId,
    appSecret: emu.appSecret,
    domain: emu.url,
    logger,
    loggerLevel: lark.LoggerLevel.error,
    autoReconnect: true,
  });
  await ws.start({ eventDispatcher: dispatcher });
  await emu.waitForClient(5000);
  return { client: sdkClient(emu, logger), ws, logger, close: () => ws.close({ force: true }) };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
