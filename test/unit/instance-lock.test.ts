import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LarkcodeError } from '../../src/core/errors.js';
import {
  acquireInstanceLock,
  defaultRegistryDir,
  type InstanceLock,
  listRunning,
  releaseOnExit,
} from '../../src/runtime/instance-lock.js';

const APP = 'cli_a1b2c3d4e5f60718';
const OTHER_APP = 'cli_0000111122223333';
const CHILD = join(import.meta.dirname, '../support/larkcode-instance-lock-child.ts');
const REPO = join(import.meta.dirname, '../..');
const onLinuxProc = process.platform === 'linux' && existsSync('/proc/self/cmdline');

let root: string;
let registryDir: string;
const held: InstanceLock[] = [];
const children: ChildProcess[] = [];

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'larkcode-lock-'));
  registryDir = join(root, 'run');
});
afterEach(() => {
  for (const lock of held.splice(0)) lock.release();
  for (const child of children.splice(0)) child.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

function stateDir(profile: string): string {
  return join(root, profile, 'state');
}

function acquire(profile: string, appId = APP, extra: { version?: string } = {}): InstanceLock {
  const lock = acquireInstanceLock({ stateDir: stateDir(profile), registryDir, profile, appId, ...extra });
  held.push(lock);
  return lock;
}

function refusal(fn: () => unknown): LarkcodeError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(LarkcodeError);
    return error as LarkcodeError;
  }
  throw new Error('expected a refusal');
}

/** A pid that existed a moment ago and no longer does. */
function deadPid(): number {
  const result = spawnSync(process.execPath, ['-e', '']);
  expect(result.pid).toBeGreaterThan(0);
  return result.pid;
}

function liveChild(command: string, args: string[]): number {
  const child = spawn(command, args, { stdio: 'ignore' });
  children.push(child);
  expect(child.pid).toBeGreaterThan(0);
  return child.pid!;
}

function writeLock(path: string, content: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content, { mode: 0o600 });
}

function ownerJson(pid: number, profile = 'default'): string {
  return JSON.stringify({
    pid,
    profile,
    appId: APP,
    startedAt: '2025-01-01T00:00:00.000Z',
    hostname: hostname(),
  });
}

describe('acquireInstanceLock', () => {
  it('takes both locks and the registry entry, 0600, and release removes them', () => {
    const lock = acquire('default', APP, { version: '1.2.3' });
    const { profileLock, appLock, registryEntry } = lock.paths;
    expect(profileLock).toBe(join(stateDir('default'), 'larkcode.lock'));
    expect(appLock).toBe(join(registryDir, `app-${APP}.lock`));
    expect(registryEntry).toBe(join(registryDir, `proc-${process.pid}.json`));
    for (const path of [profileLock, appLock, registryEntry]) {
      if (process.platform !== 'win32') expect(statSync(path).mode & 0o777).toBe(0o600);
    }
    expect(JSON.parse(readFileSync(profileLock, 'utf8'))).toMatchObject({
      pid: process.pid,
      profile: 'default',
      appId: APP,
      hostname: hostname(),
      version: '1.2.3',
    });
    expect(JSON.parse(readFileSync(registryEntry, 'utf8'))).toMatchObject({
      pid: process.pid,
      profile: 'default',
      appId: APP,
      stateDir: stateDir('default'),
      version: '1.2.3',
    });
    lock.release();
    lock.release(); // idempotent
    expect(existsSync(profileLock)).toBe(false);
    expect(readdirSync(registryDir)).toEqual([]);
    expect(readdirSync(stateDir('default'))).toEqual([]); // no temp files left behind
    // Free again.
    acquire('default').release();
  });

  it('refuses a second start of the same profile, naming the running pid', () => {
    acquire('default');
    const error = refusal(() => acquire('default'));
    expect(error.kind).toBe('lock');
    expect(error.message).toContain(`pid ${process.pid}`);
    expect(error.message).toContain('profile "default"');
    expect(error.message).toContain('split Feishu');
    expect(error.message).toContain(`kill ${process.pid}`);
  });

  it('refuses a second profile on the same app id, and lets go of its profile lock', () => {
    acquire('work');
    const error = refusal(() => acquire('home'));
    expect(error.message).toContain(`for app ${APP} under profile "work"`);
    expect(error.message).toContain(`pid ${process.pid}`);
    expect(existsSync(join(stateDir('home'), 'larkcode.lock'))).toBe(false);
  });

  it('lets different profiles with different app ids run side by side', () => {
    acquire('work', APP);
    const other = acquire('home', OTHER_APP);
    expect(existsSync(other.paths.appLock)).toBe(true);
  });

  it('takes over a lock whose pid is dead', () => {
    const dead = deadPid();
    writeLock(join(stateDir('default'), 'larkcode.lock'), ownerJson(dead));
    writeLock(join(registryDir, `app-${APP}.lock`), ownerJson(dead));
    const lock = acquire('default');
    expect(JSON.parse(readFileSync(lock.paths.profileLock, 'utf8')).pid).toBe(process.pid);
    expect(JSON.parse(readFileSync(lock.paths.appLock, 'utf8')).pid).toBe(process.pid);
    expect(readdirSync(registryDir).filter((name) => name.includes('.reap'))).toEqual([]);
  });

  it('takes over a corrupt or empty lock file', () => {
    writeLock(join(stateDir('default'), 'larkcode.lock'), '{"pid": 12');
    writeLock(join(registryDir, `app-${APP}.lock`), '');
    const lock = acquire('default');
    expect(JSON.parse(readFileSync(lock.paths.appLock, 'utf8')).pid).toBe(process.pid);
  });

  it('takes over a lock with our own pid that this process never took (a previous boot)', () => {
    writeLock(join(stateDir('default'), 'larkcode.lock'), ownerJson(process.pid));
    acquire('default');
  });

  it.runIf(onLinuxProc)('takes over a lock whose pid now belongs to another program', () => {
    const sleeper = liveChild('sleep', ['5']);
    writeLock(join(stateDir('default'), 'larkcode.lock'), ownerJson(sleeper));
    writeLock(join(registryDir, `app-${APP}.lock`), ownerJson(sleeper));
    const lock = acquire('default');
    expect(JSON.parse(readFileSync(lock.paths.profileLock, 'utf8')).pid).toBe(process.pid);
  });

  it('refuses while a live larkcode process holds the lock', async () => {
    const fake = liveChild(process.execPath, ['-e', 'setTimeout(() => {}, 5000)', 'larkcode-fake']);
    await waitForCmdline(fake, 'larkcode-fake');
    writeLock(join(registryDir, `app-${APP}.lock`), ownerJson(fake, 'elsewhere'));
    const error = refusal(() => acquire('default'));
    expect(error.message).toContain(`pid ${fake}`);
    expect(error.message).toContain('since 2025-01-01T00:00:00.000Z');
    expect(error.message).toContain(`kill ${fake}`);
    expect(existsSync(join(stateDir('default'), 'larkcode.lock'))).toBe(false);
  });

  it('refuses a lock held on another host rather than judge a pid from elsewhere', () => {
    writeLock(
      join(stateDir('default'), 'larkcode.lock'),
      JSON.stringify({ pid: deadPid(), profile: 'default', hostname: `not-${hostname()}` }),
    );
    const error = refusal(() => acquire('default'));
    expect(error.message).toContain(`on host not-${hostname()}`);
    expect(error.message).toContain(join(stateDir('default'), 'larkcode.lock'));
  });

  it('refuses an app id that cannot be part of a file name', () => {
    const error = refusal(() => acquire('default', '../evil'));
    expect(error.kind).toBe('config');
  });

  it('exactly one of 8 simultaneous starters wins, round after round', async () => {
    const racers = await startRacers(8, () => ['default', APP]);
    for (let round = 0; round < ROUNDS; round++) {
      const results = await racers.go();
      expect(results.filter((r) => r.won)).toHaveLength(1);
      for (const loser of results.filter((r) => !r.won)) {
        expect(loser.message).toMatch(/already running .*\(pid \d+/);
      }
      await racers.release();
      expect(readdirSync(registryDir)).toEqual([]);
    }
  }, 60_000);

  it('exactly one of 8 starters wins over a stale lock, round after round', async () => {
    const racers = await startRacers(8, () => ['default', APP]);
    const dead = deadPid();
    for (let round = 0; round < ROUNDS; round++) {
      writeLock(join(stateDir('default'), 'larkcode.lock'), ownerJson(dead));
      writeLock(join(registryDir, `app-${APP}.lock`), round % 2 ? '{corrupt' : ownerJson(dead));
      const results = await racers.go();
      expect(results.filter((r) => r.won)).toHaveLength(1);
      await racers.release();
    }
  }, 60_000);

  it('exactly one of 8 starters on one app id wins across profiles', async () => {
    let n = 0;
    const racers = await startRacers(8, () => [`p${n++}`, APP]);
    const dead = deadPid();
    for (let round = 0; round < ROUNDS; round++) {
      writeLock(join(registryDir, `app-${APP}.lock`), ownerJson(dead));
      const results = await racers.go();
      expect(results.filter((r) => r.won)).toHaveLength(1);
      await racers.release();
    }
  }, 60_000);
});

describe('listRunning', () => {
  it('lists live processes and deletes entries of dead ones', () => {
    expect(listRunning(registryDir)).toEqual([]); // no directory yet
    acquire('work', APP);
    const dead = deadPid();
    writeLock(
      join(registryDir, `proc-${dead}.json`),
      JSON.stringify({
        pid: dead,
        profile: 'old',
        appId: OTHER_APP,
        stateDir: '/x',
        startedAt: '2020-01-01',
      }),
    );
    writeLock(join(registryDir, 'proc-999999999.json'), 'not json');
    const running = listRunning(registryDir);
    expect(running).toHaveLength(1);
    expect(running[0]).toMatchObject({
      pid: process.pid,
      profile: 'work',
      appId: APP,
      stateDir: stateDir('work'),
    });
    expect(existsSync(join(registryDir, `proc-${dead}.json`))).toBe(false);
    expect(existsSync(join(registryDir, 'proc-999999999.json'))).toBe(false);
    expect(existsSync(join(registryDir, `app-${APP}.lock`))).toBe(true); // locks are not its business
  });

  it('drops our own pid when this process holds nothing (a leftover of a previous boot)', () => {
    writeLock(
      join(registryDir, `proc-${process.pid}.json`),
      JSON.stringify({ pid: process.pid, profile: 'x', appId: APP, stateDir: '/x', startedAt: '2020-01-01' }),
    );
    expect(listRunning(registryDir)).toEqual([]);
  });
});

describe('releaseOnExit', () => {
  it('registers an exit handler that releases, and can be undone', () => {
    const before = process.listenerCount('exit');
    const lock = acquire('default');
    const undo = releaseOnExit(lock);
    expect(process.listenerCount('exit')).toBe(before + 1);
    // Call our handler rather than emit 'exit': the test runner has exit handlers of its own.
    const handler = process.listeners('exit').at(-1) as () => void;
    handler();
    expect(existsSync(lock.paths.profileLock)).toBe(false);
    expect(existsSync(lock.paths.registryEntry)).toBe(false);
    undo();
    expect(process.listenerCount('exit')).toBe(before);
    acquire('default'); // released: free again
  });
});

describe('defaultRegistryDir', () => {
  it('prefers LARKCODE_RUNTIME_DIR, then XDG_RUNTIME_DIR, then the XDG state home', () => {
    expect(defaultRegistryDir({ LARKCODE_RUNTIME_DIR: '/r', XDG_RUNTIME_DIR: '/run/user/1' }, '/h')).toBe(
      '/r',
    );
    expect(defaultRegistryDir({ XDG_RUNTIME_DIR: '/run/user/1' }, '/h')).toBe('/run/user/1/larkcode');
    expect(defaultRegistryDir({ XDG_RUNTIME_DIR: 'relative' }, '/h')).toBe('/h/.local/state/larkcode/run');
    expect(defaultRegistryDir({ XDG_STATE_HOME: '/s' }, '/h')).toBe('/s/larkcode/run');
    expect(defaultRegistryDir({}, '/h')).toBe('/h/.local/state/larkcode/run');
  });
});

async function waitForCmdline(pid: number, text: string): Promise<void> {
  if (!onLinuxProc) return;
  for (let i = 0; i < 100; i++) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text)) return;
    } catch {
      // not there yet
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`pid ${pid} never showed ${text}`);
}

interface RaceResult {
  won: boolean;
  message?: string;
}

const ROUNDS = 10;

/**
 * n children (test/support/larkcode-instance-lock-child.ts), each one would-be larkcode. `go()`
 * makes all of them try to acquire in the same millisecond; `release()` lets the winner go.
 */
async function startRacers(n: number, args: () => [profile: string, appId: string]) {
  const racers = Array.from({ length: n }, () => {
    const [profile, appId] = args();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', CHILD, stateDir(profile), registryDir, profile, appId],
      { cwd: REPO, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    children.push(child);
    const waiters: ((line: string) => void)[] = [];
    createInterface({ input: child.stdout! }).on('line', (line) => waiters.shift()?.(line));
    const next = () => new Promise<string>((resolve) => waiters.push(resolve));
    return { child, next, ready: next() };
  });
  await Promise.all(racers.map((r) => r.ready));
  return {
    async go(): Promise<RaceResult[]> {
      const at = Date.now() + 100;
      const results = racers.map((r) => r.next());
      for (const r of racers) r.child.stdin!.write(`go ${at}\n`);
      return (await Promise.all(results)).map((line) => JSON.parse(line) as RaceResult);
    },
    async release(): Promise<void> {
      const done = racers.map((r) => r.next());
      for (const r of racers) r.child.stdin!.write('release\n');
      await Promise.all(done);
    },
  };
}
