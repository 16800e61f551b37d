import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { LarkcodeError } from '../core/errors.js';
import type { CallbackKeys } from './callback-keys.js';

/** What a card button asks for; signed by `signCallback`. */
export interface CallbackFields {
  runId: string;
  scopeId: string;
  chatId: string;
  /** The user the button is for (who started the run); the caller compares it with the clicker. */
  operatorOpenId: string;
  /** e.g. 'stop' */
  action: string;
  /** `policyFingerprint()` of the policy the card was made under. */
  policyFingerprint: string;
  /** What the action applies to, when it needs more than the run (a session, a path, a setting). */
  arg?: string;
}

/** A verified token. */
export interface CallbackToken extends CallbackFields {
  /** ms since the epoch; the token is refused from this instant on. */
  expiresAt: number;
  /** 16 random bytes, base64url: lets the caller refuse a replayed click. */
  nonce: string;
  keyVersion: number;
}

/**
 * The button's callback `value`, as sent to and returned by Feishu. Short names because the value
 * is repeated in every button and counts against the card size limit:
 *
 * | wire | field |
 * |---|---|
 * | `r` | runId |
 * | `s` | scopeId |
 * | `c` | chatId |
 * | `u` | operatorOpenId |
 * | `a` | action |
 * | `p` | policyFingerprint |
 * | `x` | expiresAt |
 * | `n` | nonce |
 * | `k` | keyVersion |
 * | `g` | arg (optional) |
 * | `sig` | HMAC-SHA256 (base64url) over `canonical()` |
 */
export interface CallbackValue {
  r: string;
  s: string;
  c: string;
  u: string;
  a: string;
  p: string;
  x: number;
  n: string;
  k: number;
  g?: string;
  sig: string;
}

export type VerifyFailure = 'malformed' | 'unknown_key' | 'forged' | 'expired';
export type VerifyResult = { ok: true; token: CallbackToken } | { ok: false; reason: VerifyFailure };

/** Bounded so a hostile value cannot make us hash megabytes; ids are far shorter. */
const field = z.string().min(1).max(256);

const valueSchema = z.strictObject({
  r: field,
  s: field,
  c: field,
  u: field,
  a: field,
  p: field,
  x: z.number().int().nonnegative(),
  n: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
  k: z.number().int().positive(),
  g: z.string().min(1).max(1024).optional(),
  sig: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
});

/** Domain separation: a signature over anything else (or a later format) never matches. */
const FORMAT = 'larkcode.callback.v1';

export function signCallback(
  fields: CallbackFields,
  options: { keys: CallbackKeys; ttlMs: number; now?: number },
): CallbackValue {
  if (!(options.ttlMs > 0))
    throw new LarkcodeError('internal', `callback ttl must be positive, got ${options.ttlMs}`);
  const { version, secret } = options.keys.current();
  const unsigned: Omit<CallbackValue, 'sig'> = {
    r: fields.runId,
    s: fields.scopeId,
    c: fields.chatId,
    u: fields.operatorOpenId,
    a: fields.action,
    p: fields.policyFingerprint,
    x: (options.now ?? Date.now()) + options.ttlMs,
    n: randomBytes(16).toString('base64url'),
    k: version,
    ...(fields.arg !== undefined ? { g: fields.arg } : {}),
  };
  const value = { ...unsigned, sig: mac(secret, unsigned) };
  // Fail here, not later as a 'malformed' click nobody can explain.
  const checked = valueSchema.safeParse(value);
  if (!checked.success) {
    throw new LarkcodeError('internal', `cannot sign callback: ${z.prettifyError(checked.error)}`);
  }
  return value;
}

/**
 * Check a callback `value` from Feishu. Order matters: the signature is checked before expiry, so
 * a forged token is reported as forged whatever its claimed expiry.
 */
export function verifyCallback(value: unknown, options: { keys: CallbackKeys; now?: number }): VerifyResult {
  const parsed = valueSchema.safeParse(value);
  if (!parsed.success) return { ok: false, reason: 'malformed' };
  const { sig, ...unsigned } = parsed.data;
  const secret = options.keys.get(unsigned.k);
  if (secret === undefined) return { ok: false, reason: 'unknown_key' };
  const expected = Buffer.from(mac(secret, unsigned));
  const given = Buffer.from(sig);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    return { ok: false, reason: 'forged' };
  }
  if ((options.now ?? Date.now()) >= unsigned.x) return { ok: false, reason: 'expired' };
  return {
    ok: true,
    token: {
      runId: unsigned.r,
      scopeId: unsigned.s,
      chatId: unsigned.c,
      operatorOpenId: unsigned.u,
      action: unsigned.a,
      policyFingerprint: unsigned.p,
      expiresAt: unsigned.x,
      nonce: unsigned.n,
      keyVersion: unsigned.k,
      ...(unsigned.g !== undefined ? { arg: unsigned.g } : {}),
    },
  };
}

/**
 * The signed bytes: a JSON array in fixed order. JSON quoting keeps field boundaries unambiguous
 * (`"a:b","c"` vs `"a","b:c"`), which plain concatenation would not. The comparison is on the
 * base64url text, so only the one canonical encoding of a MAC is accepted.
 */
function mac(secret: Buffer, v: Omit<CallbackValue, 'sig'>): string {
  const canonical = JSON.stringify([FORMAT, v.k, v.r, v.s, v.c, v.u, v.a, v.p, v.x, v.n, v.g ?? null]);
  return createHmac('sha256', secret).update(canonical, 'utf8').digest('base64url');
}
