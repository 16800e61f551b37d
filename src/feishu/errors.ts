import { LarkcodeError } from '../core/errors.js';

/**
 * What to do about a failed Feishu call. Our own table: the node-sdk's classifier
 * maps 230020 and 99991400 wrongly (research: feishu-platform.md §2.3).
 */
export type FeishuFailure =
  | 'rate_limited' // back off (honour x-ogw-ratelimit-reset) and retry
  | 'transient' // 5xx or network: retry with backoff
  | 'message_gone' // recalled / too old / card expired: never retry this target
  | 'too_large' // split the content
  | 'card_rejected' // card structure refused (elements, tables, schema)
  | 'streaming_off' // CardKit: streaming mode closed or timed out (200850, 300309): re-enable it
  | 'sequence' // CardKit: sequence not above the last one (300317): resync and retry
  | 'auth' // token or credentials
  | 'permission' // missing scope, not in chat, outside availability
  | 'invalid'; // anything else: a bug on our side or bad input

// 200810: the card is in a user interaction (a callback in flight); like a rate limit, wait and coalesce.
const RATE_LIMIT_CODES = new Set([99991400, 230020, 11232, 11233, 200810]);
const STREAMING_OFF_CODES = new Set([200850, 300309]);
const GONE_CODES = new Set([230011, 231003, 230031, 200750, 200740]);
const TOO_LARGE_CODES = new Set([230025, 200860]);
const CARD_CODES = new Set([230099, 300305, 300303, 200861]);
const AUTH_CODES = new Set([99991663, 99991661, 99991664, 10014, 10003]);
const PERMISSION_CODES = new Set([99991672, 99991401, 230002, 230013, 230027, 99991679]);

export class FeishuApiError extends LarkcodeError {
  constructor(
    readonly api: string,
    readonly failure: FeishuFailure,
    readonly code: number | undefined,
    readonly httpStatus: number | undefined,
    detail: string,
    /** How long Feishu asked us to wait, from x-ogw-ratelimit-reset. */
    readonly retryAfterMs?: number,
  ) {
    super('feishu', `Feishu ${api} failed (${describeStatus(code, httpStatus)}): ${detail}`);
    this.name = 'FeishuApiError';
  }
}

function describeStatus(code: number | undefined, httpStatus: number | undefined): string {
  return [code !== undefined ? `code ${code}` : undefined, httpStatus ? `HTTP ${httpStatus}` : undefined]
    .filter(Boolean)
    .join(', ');
}

export function classifyFeishuCode(code: number | undefined, httpStatus: number | undefined): FeishuFailure {
  if (httpStatus === 429 || (code !== undefined && RATE_LIMIT_CODES.has(code))) return 'rate_limited';
  if (code !== undefined) {
    if (GONE_CODES.has(code)) return 'message_gone';
    if (STREAMING_OFF_CODES.has(code)) return 'streaming_off';
    if (code === 300317) return 'sequence';
    if (TOO_LARGE_CODES.has(code)) return 'too_large';
    if (CARD_CODES.has(code)) return 'card_rejected';
    if (AUTH_CODES.has(code)) return 'auth';
    if (PERMISSION_CODES.has(code)) return 'permission';
  }
  if (httpStatus !== undefined && httpStatus >= 500) return 'transient';
  if (code === undefined && httpStatus === undefined) return 'transient';
  return 'invalid';
}

interface AxiosLikeError {
  message?: string;
  code?: string;
  response?: { status?: number; data?: unknown; headers?: Record<string, unknown> };
}

/** Turn whatever the SDK threw (AxiosError) into a FeishuApiError. */
export function feishuErrorFromThrown(api: string, thrown: unknown): FeishuApiError {
  if (thrown instanceof FeishuApiError) return thrown;
  const error = thrown as AxiosLikeError;
  const status = error.response?.status;
  const body = error.response?.data as { code?: number; msg?: string } | undefined;
  const code = typeof body?.code === 'number' ? body.code : undefined;
  const detail = body?.msg ?? error.message ?? String(thrown);
  return new FeishuApiError(
    api,
    classifyFeishuCode(code, status),
    code,
    status,
    detail,
    retryAfterFromHeaders(error.response?.headers),
  );
}

export function feishuErrorFromBody(api: string, body: { code?: number; msg?: string }): FeishuApiError {
  return new FeishuApiError(
    api,
    classifyFeishuCode(body.code, undefined),
    body.code,
    undefined,
    body.msg ?? 'unknown error',
  );
}

function retryAfterFromHeaders(headers: Record<string, unknown> | undefined): number | undefined {
  const reset = headers?.['x-ogw-ratelimit-reset'];
  const seconds = typeof reset === 'string' || typeof reset === 'number' ? Number(reset) : Number.NaN;
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}
