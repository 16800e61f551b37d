import * as lark from '@larksuiteoapi/node-sdk';
import type { Logger } from 'pino';
import { LarkcodeError } from '../core/errors.js';
import { type FeishuDomain, sdkDomain, sdkLogger } from './api.js';
import { type LivenessOptions, watchLiveness } from './liveness.js';

export interface GatewayHandlers {
  /** Called synchronously from the SDK handler; must only enqueue (the ack waits for it). */
  onMessageEvent: (raw: unknown) => void;
  /**
   * `card.action.trigger`: the return value is the callback's answer (a toast), carried back in
   * the ack — it must come within 3 s, so decide and enqueue only.
   */
  onCardAction: (raw: unknown) => unknown;
  /** The long connection dropped and the SDK is reconnecting. */
  onReconnecting?: () => void;
}

export interface GatewayOptions {
  appId: string;
  appSecret: string;
  domain: FeishuDomain;
  logger: Logger;
  /** Deaf-connection watchdog timing (tests shorten it). */
  liveness?: LivenessOptions;
}

/**
 * The long connection: the node-sdk WSClient + EventDispatcher. Handlers return at
 * once so Feishu gets its ack in milliseconds; work happens after.
 */
export class FeishuGateway {
  #ws?: lark.WSClient;
  #restart?: () => void;
  #stopWatchdog?: () => void;

  constructor(private readonly options: GatewayOptions) {}

  start(handlers: GatewayHandlers, signal?: AbortSignal): Promise<void> {
    const { appId, appSecret, domain, logger } = this.options;
    const dispatcher = new lark.EventDispatcher({
      logger: sdkLogger(logger),
      loggerLevel: lark.LoggerLevel.warn,
    });
    dispatcher.register({
      'im.message.receive_v1': (data: unknown) => {
        handlers.onMessageEvent(data);
      },
    });
    // Not in the SDK's event typings; over the long connection the handler's result is the answer.
    dispatcher.register({ 'card.action.trigger': (data: unknown) => handlers.onCardAction(data) } as never);

    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (error?: Error) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve();
      };
      const onAbort = () => settle(new LarkcodeError('feishu', 'connecting to Feishu was cancelled'));
      signal?.addEventListener('abort', onAbort, { once: true });

      const connect = (onReady: () => void, onError: (error: Error) => void) => {
        this.#ws = new lark.WSClient({
          appId,
          appSecret,
          domain: sdkDomain(domain),
          logger: sdkLogger(logger),
          loggerLevel: lark.LoggerLevel.warn,
          autoReconnect: true,
          onReady,
          onError,
          onReconnecting: () => {
            logger.warn('feishu long connection lost; reconnecting');
            handlers.onReconnecting?.();
          },
          onReconnected: () => logger.info('feishu long connection restored'),
          // The SDK's own watchdog after its pings, as a second line behind ours.
          wsConfig: { pingTimeout: 30 },
        });
        void this.#ws.start({ eventDispatcher: dispatcher });
      };
      this.#stopWatchdog = watchLiveness(
        () => this.#ws,
        logger,
        () => handlers.onReconnecting?.(),
        this.options.liveness,
      );
      connect(
        () => settle(),
        (error) =>
          settle(
            new LarkcodeError('feishu', `Feishu long connection failed: ${error.message}`, { cause: error }),
          ),
      );
      this.#restart = () => {
        this.#ws?.close({ force: true });
        connect(
          () => logger.info('feishu long connection re-established'),
          (error) => logger.error({ err: error }, 'feishu long connection failed'),
        );
      };
    });
  }

  connectionState(): string {
    return this.#ws?.getConnectionStatus().state ?? 'idle';
  }

  /** Drop the long connection and open a fresh one (/reconnect). */
  reconnect(): void {
    this.#restart?.();
  }

  stop(): void {
    this.#stopWatchdog?.();
    this.#ws?.close({ force: true });
  }
}
