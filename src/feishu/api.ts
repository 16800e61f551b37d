import * as lark from '@larksuiteoapi/node-sdk';
import type { Logger } from 'pino';
import { SlidingWindowLimiter } from '../core/rate-limiter.js';
import { type RetryPolicy, withRetry } from '../core/retry.js';
import { FeishuApiError, feishuErrorFromBody, feishuErrorFromThrown } from './errors.js';

export type FeishuDomain = 'feishu' | 'lark' | string;

export function sdkDomain(domain: FeishuDomain): string | lark.Domain {
  if (domain === 'feishu') return lark.Domain.Feishu;
  if (domain === 'lark') return lark.Domain.Lark;
  return domain;
}

export interface BotIdentity {
  openId: string;
  name: string;
}

interface FeishuBody<T> {
  code?: number;
  msg?: string;
  data?: T;
}

const SEND_RETRY: RetryPolicy = {
  attempts: 6,
  baseDelayMs: 500,
  maxDelayMs: 10_000,
  delayFor: (error, _attempt, backoff) => {
    if (!(error instanceof FeishuApiError)) return undefined;
    if (error.failure === 'rate_limited') return Math.max(backoff, error.retryAfterMs ?? 0);
    if (error.failure === 'transient') return backoff;
    return undefined;
  },
};

/**
 * Feishu's app-wide budget per API (send, reply, PATCH, each CardKit call): 1000/min and
 * 50/s per app and tenant. Kept with a margin; callers wait, and live cards coalesce meanwhile.
 */
const APP_API_LIMITS = [
  { windowMs: 1000, max: 45 },
  { windowMs: 60_000, max: 950 },
];

/**
 * The node-sdk `Client` with what it lacks: a `code != 0` check on 2xx answers,
 * our error table, and retry with backoff for rate limits and 5xx.
 */
export class FeishuApi {
  readonly client: lark.Client;
  readonly #budget = new SlidingWindowLimiter(APP_API_LIMITS);

  constructor(
    options: { appId: string; appSecret: string; domain: FeishuDomain },
    private readonly logger: Logger,
  ) {
    this.client = new lark.Client({
      appId: options.appId,
      appSecret: options.appSecret,
      domain: sdkDomain(options.domain),
      // A per-client cache: the SDK's default token cache is process-global.
      cache: new lark.DefaultCache(),
      logger: sdkLogger(logger),
      loggerLevel: lark.LoggerLevel.warn,
    });
  }

  /** One API call: resolves `data`, throws FeishuApiError, retries what is retryable. */
  async call<T>(
    api: string,
    request: () => Promise<FeishuBody<T>>,
    signal?: AbortSignal,
    options: { retry?: boolean; urgent?: boolean; noWait?: boolean } = {},
  ): Promise<T> {
    const policy = options.retry === false ? { ...SEND_RETRY, attempts: 1 } : SEND_RETRY;
    return withRetry(
      async () => {
        if (options.noWait) {
          // A live card would rather skip this write and send newer content later than wait
          // in line with stale content (and hold up final cards behind it).
          const waitMs = this.#budget.tryTake(api);
          if (waitMs > 0) {
            throw new FeishuApiError(api, 'rate_limited', undefined, undefined, 'app-wide budget', waitMs);
          }
        } else await this.#budget.take(api, signal, options.urgent);
        let body: FeishuBody<T>;
        try {
          body = await request();
        } catch (thrown) {
          throw feishuErrorFromThrown(api, thrown);
        }
        if (body && typeof body.code === 'number' && body.code !== 0) throw feishuErrorFromBody(api, body);
        return body?.data as T;
      },
      {
        ...policy,
        delayFor: (error, attempt, backoff) => {
          const delay = policy.delayFor(error, attempt, backoff);
          if (delay !== undefined)
            this.logger.warn(
              { api, attempt, delayMs: Math.round(delay), err: String(error) },
              'feishu call retrying',
            );
          return delay;
        },
      },
      signal,
    );
  }

  async botIdentity(): Promise<BotIdentity> {
    let answer: { code?: number; msg?: string; bot?: { open_id?: string; app_name?: string } };
    try {
      answer = await this.client.request({ url: '/open-apis/bot/v3/info', method: 'GET' });
    } catch (thrown) {
      throw feishuErrorFromThrown('bot/v3/info', thrown);
    }
    if (answer.code !== 0 || !answer.bot?.open_id) throw feishuErrorFromBody('bot/v3/info', answer);
    return { openId: answer.bot.open_id, name: answer.bot.app_name ?? 'larkcode' };
  }
}

/** Route the SDK's own logging (array arguments) into pino. */
export function sdkLogger(logger: Logger) {
  const forward =
    (level: 'error' | 'warn' | 'info' | 'debug' | 'trace') =>
    (...args: unknown[]) => {
      const flat = args.flat();
      logger[level]({ sdk: true }, flat.map((a) => (typeof a === 'string' ? a : safeJson(a))).join(' '));
    };
  return {
    error: forward('error'),
    warn: forward('warn'),
    info: forward('debug'),
    debug: forward('trace'),
    trace: forward('trace'),
  };
}

function safeJson(value: unknown): string {
  if (value instanceof Error) return value.message;
  // An axios error: its config holds whole request bodies (cards, messages). Keep the gist.
  const failed = value as {
    config?: { method?: string; url?: string };
    response?: { status?: number; data?: unknown };
  };
  if (failed && typeof failed === 'object' && failed.config && 'response' in failed) {
    const body = failed.response?.data as { code?: unknown; msg?: unknown } | undefined;
    return `${failed.config.method?.toUpperCase() ?? ''} ${failed.config.url ?? ''} → HTTP ${failed.response?.status ?? '?'} code ${String(body?.code)} ${String(body?.msg ?? '')}`;
  }
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}
