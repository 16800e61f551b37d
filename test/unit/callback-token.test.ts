import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CallbackKeyStore } from '../../src/security/callback-keys.js';
import {
  type CallbackFields,
  type CallbackValue,
  signCallback,
  verifyCallback,
} from '../../src/security/callback-token.js';

const DAY = 24 * 60 * 60 * 1000;
const T0 = 1_700_000_000_000;
const TTL = 7 * DAY;
const fields: CallbackFields = {
  runId: 'run_0f8c2a',
  scopeId: 'topic:oc_5ad11d72b830411d72b836c20:omt_1a2b3c',
  chatId: 'oc_5ad11d72b830411d72b836c20',
  operatorOpenId: 'ou_7d8a6e6df7621556ce0d21922b676706',
  action: 'stop',
  policyFingerprint: '0123456789abcdef',
};
const openStore = (now = () => T0, options = {}) =>
  CallbackKeyStore.open(mkdtempSync(join(tmpdir(), 'larkcode-token-')), { now, ...options });

describe('callback tokens', () => {
  const keys = openStore();
  const value = signCallback(fields, { keys, ttlMs: TTL, now: T0 });

  it('round-trips through JSON (what Feishu hands back)', () => {
    const back: unknown = JSON.parse(JSON.stringify(value));
    const result = verifyCallback(back, { keys, now: T0 + 1 });
    expect(result).toEqual({
      ok: true,
      token: { ...fields, expiresAt: T0 + TTL, nonce: value.n, keyVersion: 1 },
    });
  });

  it('signs an argument too: changed, added or removed, it is a forgery', () => {
    const withArg = signCallback({ ...fields, arg: '/work/project' }, { keys, ttlMs: TTL, now: T0 });
    const ok = verifyCallback(withArg, { keys, now: T0 + 1 });
    expect(ok.ok && ok.token.arg).toBe('/work/project');
    expect(verifyCallback({ ...withArg, g: '/etc' }, { keys, now: T0 + 1 })).toEqual({
      ok: false,
      reason: 'forged',
    });
    const { g: _dropped, ...withoutArg } = withArg;
    expect(verifyCallback(withoutArg, { keys, now: T0 + 1 })).toEqual({ ok: false, reason: 'forged' });
    expect(verifyCallback({ ...value, g: '/etc' }, { keys, now: T0 + 1 })).toEqual({
      ok: false,
      reason: 'forged',
    });
  });

  it('stays small and uses a fresh nonce each time', () => {
    expect(JSON.stringify(value).length).toBeLessThan(400);
    expect(value.n).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const other = signCallback(fields, { keys, ttlMs: TTL, now: T0 });
    expect(other.n).not.toBe(value.n);
    expect(other.sig).not.toBe(value.sig);
  });

  it.each([
    ['r', 'run_0f8c2b'],
    ['s', 'chat:oc_5ad11d72b830411d72b836c20'],
    ['c', 'oc_other'],
    ['u', 'ou_attacker'],
    ['a', 'reset'],
    ['p', 'fedcba9876543210'],
    ['x', T0 + 365 * DAY],
    ['n', 'AAAAAAAAAAAAAAAAAAAAAA'],
    ['sig', 'A'.repeat(43)],
  ] as const)('reports a tampered %s as forged', (key, changed) => {
    const tampered = { ...value, [key]: changed };
    expect(verifyCallback(tampered, { keys, now: T0 })).toEqual({ ok: false, reason: 'forged' });
  });

  it('reports a tampered key version as forged when that version exists', () => {
    const rotated = openStore();
    const v1 = signCallback(fields, { keys: rotated, ttlMs: TTL, now: T0 });
    rotated.rotate();
    expect(verifyCallback({ ...v1, k: 2 }, { keys: rotated, now: T0 })).toEqual({
      ok: false,
      reason: 'forged',
    });
  });

  it('does not let a field boundary move (no concatenation collisions)', () => {
    const shifted = { ...value, r: `${value.r}${value.s.slice(0, 5)}`, s: value.s.slice(5) };
    expect(verifyCallback(shifted, { keys, now: T0 })).toEqual({ ok: false, reason: 'forged' });
  });

  it('reports a token from another key store as forged, and an unknown version as unknown_key', () => {
    const other = openStore();
    expect(verifyCallback(value, { keys: other, now: T0 })).toEqual({ ok: false, reason: 'forged' });
    expect(verifyCallback({ ...value, k: 99 }, { keys, now: T0 })).toEqual({
      ok: false,
      reason: 'unknown_key',
    });
  });

  it('expires at expiresAt', () => {
    expect(verifyCallback(value, { keys, now: T0 + TTL - 1 }).ok).toBe(true);
    expect(verifyCallback(value, { keys, now: T0 + TTL })).toEqual({ ok: false, reason: 'expired' });
  });

  it('checks the signature before expiry', () => {
    const forgedAndExpired = { ...value, u: 'ou_attacker' };
    expect(verifyCallback(forgedAndExpired, { keys, now: T0 + 2 * TTL })).toEqual({
      ok: false,
      reason: 'forged',
    });
  });

  const { r: _r, ...missingRun } = value;
  const { sig: _sig, ...unsigned } = value;
  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a string', JSON.stringify(value)],
    ['an array', [value]],
    ['a missing field', missingRun],
    ['no signature', unsigned],
    ['an extra field', { ...value, extra: 1 }],
    ['a numeric run id', { ...value, r: 42 }],
    ['an empty action', { ...value, a: '' }],
    ['a string expiry', { ...value, x: String(value.x) }],
    ['a fractional key version', { ...value, k: 1.5 }],
    ['a string key version', { ...value, k: '1' }],
    ['a short nonce', { ...value, n: 'abc' }],
    ['a signature of the wrong length', { ...value, sig: `${value.sig}A` }],
    ['a signature in base64 not base64url', { ...value, sig: value.sig.replace(/.$/, '+') }],
    ['a huge field', { ...value, r: 'x'.repeat(10_000) }],
  ])('reports %s as malformed', (_name, input) => {
    expect(verifyCallback(input, { keys, now: T0 })).toEqual({ ok: false, reason: 'malformed' });
  });

  it('refuses to sign what it would not accept', () => {
    expect(() => signCallback({ ...fields, action: '' }, { keys, ttlMs: TTL, now: T0 })).toThrow(
      /cannot sign/,
    );
    expect(() => signCallback(fields, { keys, ttlMs: 0, now: T0 })).toThrow(/ttl/);
  });

  it('verifies a token signed with a rotated-out key until its retirement window ends', () => {
    const c = { t: T0 };
    const dir = mkdtempSync(join(tmpdir(), 'larkcode-token-'));
    const store = CallbackKeyStore.open(dir, { now: () => c.t });
    const old = signCallback(fields, { keys: store, ttlMs: 60 * DAY, now: c.t });

    c.t = T0 + 30 * DAY; // the next open rotates
    const reopened = CallbackKeyStore.open(dir, { now: () => c.t });
    expect(reopened.current().version).toBe(2);
    expect(verifyCallback(old, { keys: reopened, now: c.t }).ok).toBe(true);
    const fresh = signCallback(fields, { keys: reopened, ttlMs: TTL, now: c.t });
    expect(fresh.k).toBe(2);
    expect(verifyCallback(fresh, { keys: reopened, now: c.t }).ok).toBe(true);

    c.t = T0 + 60 * DAY + 1; // 30 days after version 2 replaced it
    expect(verifyCallback(old, { keys: reopened, now: c.t })).toEqual({ ok: false, reason: 'unknown_key' });
    const later = CallbackKeyStore.open(dir, { now: () => c.t });
    expect(verifyCallback(old, { keys: later, now: c.t })).toEqual({ ok: false, reason: 'unknown_key' });
  });

  it('accepts any CallbackKeys implementation', () => {
    const secret = Buffer.alloc(32, 1);
    const fake = {
      current: () => ({ version: 5, secret }),
      get: (v: number) => (v === 5 ? secret : undefined),
    };
    const signed: CallbackValue = signCallback(fields, { keys: fake, ttlMs: TTL, now: T0 });
    expect(signed.k).toBe(5);
    expect(verifyCallback(signed, { keys: fake, now: T0 }).ok).toBe(true);
  });
});
