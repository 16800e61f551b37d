import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { assign, createActor, fromCallback, sendTo, setup, spawnChild } from 'xstate';
import { createInspection, sanitizeValue } from '../../src/runtime/inspection.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const logger = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'larkcode-inspect-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Line {
  type: string;
  sessionId: string;
  name?: string;
  definition?: string;
  event?: { type: string };
  snapshot?: { value?: unknown; status?: string; context?: Record<string, unknown> };
}

/** A throwaway system: a parent that spawns a child and talks to it, with planted secrets. */
function throwawaySystem() {
  const child = setup({
    types: { context: {} as { pings: number; apiKey: string }, events: {} as { type: 'ping' } },
  }).createMachine({
    id: 'child',
    context: { pings: 0, apiKey: 'sk-child-999' },
    on: { ping: { actions: assign({ pings: ({ context }) => context.pings + 1 }) } },
  });
  return setup({
    types: {
      context: {} as { appSecret: string; text: string },
      events: {} as { type: 'go'; text: string; token?: string } | { type: 'done' },
    },
    actors: { child, ticker: fromCallback(() => () => {}) },
  }).createMachine({
    id: 'parent',
    context: { appSecret: 'sekret-123', text: '' },
    initial: 'idle',
    entry: spawnChild('child', { id: 'kid', systemId: 'kid' }),
    states: {
      idle: {
        on: {
          go: {
            target: 'busy',
            actions: [assign({ text: ({ event }) => event.text }), sendTo('kid', { type: 'ping' })],
          },
        },
      },
      busy: { invoke: { src: 'ticker' }, on: { done: 'idle' } },
    },
  });
}

describe('createInspection', () => {
  it('does nothing unless asked', async () => {
    const inspection = createInspection({ logger });
    expect(inspection.observer).toBeUndefined();
    await inspection.stop();
  });

  it('records a real actor system as sanitized JSONL', async () => {
    const file = join(dir, 'nested', 'run.jsonl');
    const inspection = createInspection({ recordFile: file, logger });
    const actor = createActor(throwawaySystem(), { inspect: inspection.observer! });
    actor.start();
    actor.send({ type: 'go', text: 'x'.repeat(1000), token: 'tok-abc' });
    actor.send({ type: 'done' });
    actor.stop();
    await inspection.stop();
    await inspection.stop(); // idempotent

    const raw = readFileSync(file, 'utf8');
    const lines = raw.trimEnd().split('\n');
    const events = lines.map((line) => JSON.parse(line) as Line);

    // Actor registrations: parent, spawned child, invoked callback actor; with definitions.
    const actors = events.filter((e) => e.type === '@xstate.actor');
    expect(actors.map((e) => e.name)).toEqual(expect.arrayContaining(['parent', 'kid']));
    const parentDef = JSON.parse(actors.find((e) => e.name === 'parent')!.definition!) as { id: string };
    expect(parentDef.id).toBe('parent');
    // Events, including the one the parent sent to its child.
    const eventTypes = events.filter((e) => e.type === '@xstate.event').map((e) => e.event?.type);
    expect(eventTypes).toEqual(expect.arrayContaining(['xstate.init', 'go', 'ping', 'done']));
    // Snapshots with value and status.
    const snapshots = events.filter((e) => e.type === '@xstate.snapshot');
    expect(snapshots.map((e) => e.snapshot?.value)).toEqual(expect.arrayContaining(['idle', 'busy']));
    expect(snapshots.every((e) => typeof e.snapshot?.status === 'string')).toBe(true);

    // No secrets anywhere; long text cut to 200 chars.
    for (const secret of ['sekret-123', 'sk-child-999', 'tok-abc']) expect(raw).not.toContain(secret);
    expect(raw).toContain('"appSecret":"[redacted]"');
    expect(raw).not.toContain('x'.repeat(201));
    expect(raw).toContain(`${'x'.repeat(200)}…[+800 chars]`);
  });

  it('sanitizes undefined, cycles, actor refs and errors without throwing', () => {
    const cyclic: Record<string, unknown> = { a: 1, password: 'p' };
    cyclic.self = cyclic;
    expect(sanitizeValue(undefined)).toBeUndefined();
    expect(sanitizeValue({ context: undefined, err: new Error('boom'), c: cyclic })).toEqual({
      err: { name: 'Error', message: 'boom' },
      c: { a: 1, password: '[redacted]', self: '[circular]' },
    });
    expect(sanitizeValue({ ref: { toJSON: () => ({ xstate$$type: 1, id: 'kid' }) } })).toEqual({
      ref: { xstate$$type: 1, id: 'kid' },
    });
    // Usage counters are not secrets.
    expect(sanitizeValue({ inputTokens: 3, accessToken: 't', tenant_access_token: 't' })).toEqual({
      inputTokens: 3,
      accessToken: '[redacted]',
      tenant_access_token: '[redacted]',
    });
  });

  it('--inspect starts offline, serves the page, stops < 1 s and leaves nothing keeping the process alive', async () => {
    const fixture = join(REPO_ROOT, 'test/docs/fixtures/inspect-child.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let stoppedAt = 0;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (!stoppedAt && stdout.includes('"stopped":true')) {
        stoppedAt = performance.now();
        // It must exit by itself within 2 s of stop(); give it 3 before killing.
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const code = await new Promise<number | null>((resolve) => {
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.on('exit', (exitCode) => {
        clearTimeout(killer);
        resolve(exitCode);
      });
    });
    const exitedAt = performance.now();
    expect(code, `child did not exit by itself\n${stdout}\n${stderr}`).toBe(0);
    const result = JSON.parse(
      stdout
        .trimEnd()
        .split('\n')
        .find((l) => l.includes('"stopped":true'))!,
    ) as {
      stopMs: number;
      pageEmbedsStately: boolean;
      sawActor: boolean;
      leakedSecret: boolean;
    };
    expect(result.stopMs).toBeLessThan(1000);
    expect(result.pageEmbedsStately).toBe(true);
    expect(result.sawActor).toBe(true);
    expect(result.leakedSecret).toBe(false);
    expect(stdout).toMatch(/"url":"http:\/\/127\.0\.0\.1:\d+\/"/);
    expect(exitedAt - stoppedAt).toBeLessThan(2000);
  });
});
