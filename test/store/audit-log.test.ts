import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AuditLog,
  type AuditLogOptions,
  REDACTED,
  readAuditFileSync,
  redactDetail,
} from '../../src/audit/audit-log.js';
import { LarkcodeError } from '../../src/core/errors.js';

let stateDir: string;
let errors: unknown[];
beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'larkcode-audit-'));
  errors = [];
});
afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5);
const file = () => join(stateDir, 'audit.jsonl');
const open = (options: AuditLogOptions = {}) =>
  AuditLog.open(stateDir, { now: () => T0, onError: (e) => errors.push(e), ...options });
const lines = (path = file()) => readFileSync(path, 'utf8').split('\n').filter(Boolean);

describe('AuditLog', () => {
  it('appends one JSON line per record, in order, stamped by the clock unless given a time', async () => {
    const log = open();
    log.record({ actor: 'ou_a', scopeId: 'chat:oc_1', action: 'command./cd', decision: 'allowed' });
    log.record({ actor: 'ou_b', action: 'run.stop', decision: 'denied', reason: 'not the starter' });
    log.record({ at: '2026-05-06T07:08:09.000Z', actor: 'larkcode', action: 'run.start', decision: 'done' });
    await log.flush();
    expect(lines().map((l) => JSON.parse(l))).toEqual([
      {
        at: '2026-01-02T03:04:05.000Z',
        actor: 'ou_a',
        scopeId: 'chat:oc_1',
        action: 'command./cd',
        decision: 'allowed',
      },
      {
        at: '2026-01-02T03:04:05.000Z',
        actor: 'ou_b',
        action: 'run.stop',
        decision: 'denied',
        reason: 'not the starter',
      },
      { at: '2026-05-06T07:08:09.000Z', actor: 'larkcode', action: 'run.start', decision: 'done' },
    ]);
    expect(readAuditFileSync(file())).toMatchObject({ skipped: 0 });
    if (process.platform !== 'win32') expect(statSync(file()).mode & 0o777).toBe(0o600);
    expect(errors).toEqual([]);
    await log.close();
  });

  it('record returns before anything is written (no I/O on the caller)', async () => {
    const log = open();
    log.record({ actor: 'ou_a', action: 'run.start', decision: 'done' });
    // The open may already be under way on the thread pool, but nothing is written before the
    // caller yields to the event loop.
    expect(existsSync(file()) ? readFileSync(file(), 'utf8') : '').toBe('');
    await log.flush();
    expect(lines()).toHaveLength(1);
  });

  it('keeps order across many records arriving while writes are in flight', async () => {
    const log = open();
    for (let i = 0; i < 2_000; i++) {
      log.record({ actor: 'ou_a', action: 'card.action', decision: 'done', detail: { i } });
      if (i % 97 === 0) await Promise.resolve(); // let the drain interleave
    }
    await log.flush();
    const { records, skipped } = readAuditFileSync(file());
    expect(skipped).toBe(0);
    expect(records.map((r) => r.detail?.i)).toEqual(Array.from({ length: 2_000 }, (_, i) => i));
  });

  it('redacts detail values under secret-looking keys, at any depth', async () => {
    const log = open();
    log.record({
      actor: 'ou_a',
      action: 'policy.change',
      decision: 'done',
      detail: {
        appSecret: 'SECRET-1',
        token: 'SECRET-2',
        apiKey: { nested: 'SECRET-3' },
        PASSWORD: 'SECRET-4',
        workspace: '/work/api',
        nested: { accessToken: 'SECRET-5', list: [{ secret: 'SECRET-6' }, 'plain'], fine: 2 },
      },
    });
    await log.flush();
    const text = readFileSync(file(), 'utf8');
    expect(text).not.toContain('SECRET-');
    expect(readAuditFileSync(file()).records[0]!.detail).toEqual({
      appSecret: REDACTED,
      token: REDACTED,
      apiKey: REDACTED,
      PASSWORD: REDACTED,
      workspace: '/work/api',
      nested: { accessToken: REDACTED, list: [{ secret: REDACTED }, 'plain'], fine: 2 },
    });
  });

  it('makes any detail JSON-safe (cycles, bigint, errors, buffers, dates, undefined)', () => {
    const cyclic: Record<string, unknown> = { name: 'c' };
    cyclic.self = cyclic;
    const shared = { v: 1 };
    expect(
      redactDetail({
        cyclic,
        big: 10n,
        error: new Error('boom'),
        buf: Buffer.from('abc'),
        when: new Date(T0),
        gone: undefined,
        fn: () => 1,
        nan: Number.NaN,
        pair: [shared, shared],
      }),
    ).toEqual({
      cyclic: { name: 'c', self: '[circular]' },
      big: '10',
      error: { name: 'Error', message: 'boom' },
      buf: '[3 bytes]',
      when: '2026-01-02T03:04:05.000Z',
      nan: 'NaN',
      pair: [{ v: 1 }, { v: 1 }],
    });
  });

  it('never throws: an invalid record goes to onError and is not written', async () => {
    const log = open();
    expect(() =>
      log.record({ actor: 'ou_a', action: 'run.start', decision: 'maybe' as 'done' }),
    ).not.toThrow();
    expect(() => log.record({ actor: '', action: 'run.start', decision: 'done' })).not.toThrow();
    expect(() => log.record({ at: 'yesterday', actor: 'ou_a', action: 'x', decision: 'done' })).not.toThrow();
    expect(() => log.record(undefined as never)).not.toThrow();
    log.record({ actor: 'ou_a', action: 'run.start', decision: 'done' });
    await log.flush();
    expect(lines()).toHaveLength(1);
    expect(errors).toHaveLength(4);
    expect(errors[0]).toBeInstanceOf(LarkcodeError);
    expect(String(errors[0])).toMatch(/audit record refused \(run.start by ou_a\)/);
  });

  it('an onError that throws does not escape either', async () => {
    const log = AuditLog.open(stateDir, {
      onError: () => {
        throw new Error('logger down');
      },
    });
    expect(() => log.record({ actor: '', action: 'x', decision: 'done' })).not.toThrow();
    await log.flush();
  });

  it('cuts an oversized record down to its facts', async () => {
    const log = open();
    log.record({
      actor: 'ou_a',
      action: 'command./ws',
      decision: 'done',
      reason: 'r'.repeat(1_500),
      detail: { blob: 'x'.repeat(40_000) },
    });
    await log.flush();
    const [record] = readAuditFileSync(file()).records;
    expect(record).toMatchObject({ actor: 'ou_a', action: 'command./ws', decision: 'done' });
    expect(record!.reason).toHaveLength(500);
    expect(record!.detail).toEqual({ truncated: expect.any(Number) });
  });

  it('rotates before a write would pass maxBytes, keeping 3 older files', async () => {
    const log = open({ maxBytes: 4_096 });
    const total = 400;
    for (let i = 0; i < total; i++) {
      log.record({
        actor: 'ou_a',
        action: 'card.action',
        decision: 'done',
        detail: { i, pad: 'p'.repeat(40) },
      });
    }
    await log.flush();
    const paths = [`${file()}.3`, `${file()}.2`, `${file()}.1`, file()];
    for (const path of paths) expect(statSync(path).size).toBeLessThanOrEqual(4_096);
    expect(existsSync(`${file()}.4`)).toBe(false);
    // Oldest to newest, the kept files hold the newest records, contiguous and in order.
    const kept = paths.flatMap((p) => readAuditFileSync(p).records.map((r) => r.detail?.i as number));
    expect(kept.at(-1)).toBe(total - 1);
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, k) => total - kept.length + k));
    expect(kept.length).toBeGreaterThan(80); // ~4 files of 4 KiB, ~100-byte lines
    expect(errors).toEqual([]);
  });

  it('rotates a file that is already too big when it is opened', async () => {
    writeFileSync(file(), `${'{"old":true}\n'.repeat(400)}`);
    const log = open({ maxBytes: 4_096 });
    log.record({ actor: 'ou_a', action: 'run.start', decision: 'done' });
    await log.flush();
    expect(lines(`${file()}.1`)).toHaveLength(400);
    expect(lines()).toHaveLength(1);
  });

  it('after a torn last line (kill -9), the next record starts on a fresh line', async () => {
    const good = JSON.stringify({
      at: new Date(T0).toISOString(),
      actor: 'ou_a',
      action: 'x',
      decision: 'done',
    });
    writeFileSync(file(), `${good}\n{"at":"2026-01-02T0`);
    const log = open();
    log.record({ actor: 'ou_b', action: 'run.start', decision: 'done' });
    await log.flush();
    const { records, skipped } = readAuditFileSync(file());
    expect(records.map((r) => r.actor)).toEqual(['ou_a', 'ou_b']);
    expect(skipped).toBe(1);
  });

  it('reports write failures to onError and keeps going once the disk is back', async () => {
    mkdirSync(file()); // the log path is a directory: open fails
    const log = open();
    log.record({ actor: 'ou_a', action: 'run.start', decision: 'done' });
    log.record({ actor: 'ou_a', action: 'run.stop', decision: 'done' });
    await log.flush();
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toMatch(/audit log write failed; 2 queued record\(s\) lost/);
    rmSync(file(), { recursive: true });
    log.record({ actor: 'ou_a', action: 'run.start', decision: 'done' });
    await log.flush();
    expect(lines()).toHaveLength(1);
  });

  it('bounds the queue: beyond maxPending records are dropped and reported', async () => {
    const log = open({ maxPending: 10 });
    for (let i = 0; i < 25; i++) log.record({ actor: 'ou_a', action: 'x', decision: 'done', detail: { i } });
    await log.flush();
    const kept = readAuditFileSync(file()).records.map((r) => r.detail?.i);
    expect(kept).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(errors.map(String)).toEqual([
      expect.stringMatching(/10 records behind; dropping/),
      expect.stringMatching(/dropped 15 record\(s\)/),
    ]);
  });

  it('close flushes; records after close are reported, not written', async () => {
    const log = open();
    log.record({ actor: 'ou_a', action: 'run.start', decision: 'done' });
    await log.close();
    expect(lines()).toHaveLength(1);
    log.record({ actor: 'ou_a', action: 'run.stop', decision: 'done' });
    await log.flush();
    expect(lines()).toHaveLength(1);
    expect(String(errors[0])).toMatch(/audit log is closed; lost run.stop by ou_a/);
  });

  it('a reopened log appends to the same file', async () => {
    const first = open();
    first.record({ actor: 'ou_a', action: 'a', decision: 'done' });
    await first.close();
    const second = open();
    second.record({ actor: 'ou_a', action: 'b', decision: 'done' });
    await second.close();
    expect(readAuditFileSync(file()).records.map((r) => r.action)).toEqual(['a', 'b']);
    expect(readAuditFileSync(join(stateDir, 'none.jsonl'))).toEqual({ records: [], skipped: 0 });
  });
});
