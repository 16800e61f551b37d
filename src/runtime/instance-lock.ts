import {
  closeSync,
  fstatSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { LarkcodeError, type LarkcodeErrorKind } from '../core/errors.js';
import { isErrno, writeFileAtomicSync } from '../store/atomic-file.js';

/**
 * One larkcode per profile and one per Feishu app id (seed 004 §5.15).
 *
 * Why two locks: a profile's state directory must have one writer, and — the one people trip
 * over — two processes listening on one app id each receive a random share of Feishu's events,
 * so messages get answered by whichever process happened to win them. The app lock lives in a
 * per-user registry directory shared by every profile, so two profiles configured with the same
 * app are refused too. The same directory holds one `proc-<pid>.json` per running process, which
 * `larkcode status` lists.
 *
 * A lock is a file created only if absent. It names its holder's pid; a file whose pid is dead,
 * reused by some other program, or which cannot be read at all is stale and is taken over.
 */

/** 'lock' belongs in LarkcodeErrorKind (the CLI should not map it to EX_CONFIG); until then: */
const LOCK_KIND: LarkcodeErrorKind = 'lock';

export interface LockOwner {
  pid: number;
  profile: string;
  appId: string;
  /** ISO time the holder started. */
  startedAt: string;
  hostname: string;
  version?: string;
  /**
   * The holder's entry script (`process.argv[1]`): a dev checkout run as
   * `node --import tsx src/cli/main.ts` has no "larkcode" in its command line, so this is the
   * other way to recognise a live holder.
   */
  entry?: string;
}

export interface RunningProcess {
  pid: number;
  profile: string;
  appId: string;
  stateDir: string;
  startedAt: string;
  version?: string;
  /** As in LockOwner: how `listRunning` recognises a dev checkout's process as larkcode. */
  entry?: string;
}

export interface AcquireInstanceLockOptions {
  /** The profile's state directory: `<stateDir>/larkcode.lock`. */
  stateDir: string;
  /** Per-user directory shared by all profiles (see `defaultRegistryDir`). */
  registryDir: string;
  profile: string;
  appId: string;
  pid?: number;
  now?: () => number;
  version?: string;
}

export interface InstanceLock {
  readonly owner: LockOwner;
  readonly paths: { profileLock: string; appLock: string; registryEntry: string };
  /** Removes both locks and the registry entry — each only if it is still ours. Idempotent. */
  release(): void;
}

/**
 * Where the app locks and the process registry live. Not under LARKCODE_HOME: the point is that
 * every profile of this user sees the same directory. XDG_RUNTIME_DIR (tmpfs, per user, emptied
 * at boot) when the session has one, else the XDG state home. LARKCODE_RUNTIME_DIR overrides
 * both — test suites that run several daemons on one emulated app id need their own.
 */
export function defaultRegistryDir(env: NodeJS.ProcessEnv, home: string): string {
  if (env.LARKCODE_RUNTIME_DIR) return env.LARKCODE_RUNTIME_DIR;
  // The XDG spec says to ignore relative values.
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime && isAbsolute(runtime)) return join(runtime, 'larkcode');
  const stateHome =
    env.XDG_STATE_HOME && isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : join(home, '.local', 'state');
  return join(stateHome, 'larkcode', 'run');
}

/**
 * Take the profile lock, then the app lock, then write the registry entry. Throws a
 * LarkcodeError naming the running pid when another larkcode holds either lock (having let go of
 * whatever it took).
 */
export function acquireInstanceLock(options: AcquireInstanceLockOptions): InstanceLock {
  const { stateDir, registryDir, profile, appId } = options;
  const pid = options.pid ?? process.pid;
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(appId)) {
    // It becomes part of a file name.
    throw new LarkcodeError('config', `app id ${JSON.stringify(appId)} is not a Feishu app id (cli_…)`);
  }
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  mkdirSync(registryDir, { recursive: true, mode: 0o700 });
  const owner: LockOwner = {
    pid,
    profile,
    appId,
    startedAt: new Date((options.now ?? Date.now)()).toISOString(),
    hostname: osHostname(),
    ...(options.version !== undefined ? { version: options.version } : {}),
    ...(process.argv[1] ? { entry: process.argv[1] } : {}),
  };
  const text = `${JSON.stringify(owner)}\n`;
  const paths = {
    profileLock: join(stateDir, 'larkcode.lock'),
    appLock: join(registryDir, `app-${appId}.lock`),
    registryEntry: join(registryDir, `proc-${pid}.json`),
  };

  takeLock(paths.profileLock, text, pid, (held) => `for profile "${held.profile ?? profile}"`);
  try {
    takeLock(paths.appLock, text, pid, (held) =>
      held.profile !== undefined && held.profile !== profile
        ? `for app ${appId} under profile "${held.profile}"`
        : `for app ${appId}`,
    );
  } catch (error) {
    releaseLock(paths.profileLock, text);
    throw error;
  }
  const entry: RunningProcess = {
    pid,
    profile,
    appId,
    stateDir,
    startedAt: owner.startedAt,
    ...(owner.version !== undefined ? { version: owner.version } : {}),
    ...(owner.entry !== undefined ? { entry: owner.entry } : {}),
  };
  try {
    // Only `status` reads it, and a lost entry after a power cut is harmless: no fsync.
    writeFileAtomicSync(paths.registryEntry, `${JSON.stringify(entry)}\n`, { mode: 0o600, sync: false });
    liveEntries.add(paths.registryEntry);
  } catch (error) {
    releaseLock(paths.appLock, text);
    releaseLock(paths.profileLock, text);
    throw error;
  }

  let released = false;
  return {
    owner,
    paths,
    release() {
      if (released) return;
      released = true;
      removeRegistryEntry(paths.registryEntry, pid, owner.startedAt);
      releaseLock(paths.appLock, text);
      releaseLock(paths.profileLock, text);
    },
  };
}

/**
 * Release on any way out that still runs JavaScript (return from main, process.exit, an uncaught
 * error); SIGKILL leaves the files behind, and the next start finds them stale. Returns a function
 * that unregisters the handler.
 */
export function releaseOnExit(lock: InstanceLock): () => void {
  const handler = () => lock.release();
  process.once('exit', handler);
  return () => {
    process.off('exit', handler);
  };
}

/**
 * The larkcode processes running for this user, oldest first. Entries whose process is gone
 * (killed, so it never removed its entry) or that cannot be read are deleted on the way.
 */
export function listRunning(registryDir: string): RunningProcess[] {
  let names: string[];
  try {
    names = readdirSync(registryDir);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return [];
    throw error;
  }
  const running: RunningProcess[] = [];
  for (const name of names) {
    const match = /^proc-(\d+)\.json$/.exec(name);
    if (!match) continue;
    const path = join(registryDir, name);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      if (isErrno(error, 'ENOENT')) continue; // removed by its owner meanwhile
      throw error;
    }
    const entry = parseJson(text, registrySchema);
    const alive =
      entry !== undefined &&
      entry.pid === Number(match[1]) &&
      (entry.pid === process.pid ? liveEntries.has(path) : holderAlive(entry.pid, entry));
    if (alive) {
      running.push(entry);
    } else {
      unlinkQuiet(path);
    }
  }
  return running.sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.pid - b.pid);
}

// ── the lock file protocol ──────────────────────────────────────────────────────────────────────

/**
 * Lock files and registry entries this process holds, by path: for our own pid, kill() and /proc
 * cannot tell this process from an earlier one that had the same pid.
 */
const heldHere = new Set<string>();
const liveEntries = new Set<string>();

/** How many times to go round create → inspect → take over before giving up. */
const MAX_ROUNDS = 50;
/** A `.reap` mutex older than this was left by a starter that died mid-takeover. */
const REAP_STALE_MS = 5_000;

// Lenient on purpose: another larkcode version may add fields, and all that matters is the pid.
const ownerSchema = z.looseObject({
  pid: z.number().int().positive(),
  profile: z.string().optional(),
  appId: z.string().optional(),
  startedAt: z.string().optional(),
  hostname: z.string().optional(),
  version: z.string().optional(),
  entry: z.string().optional(),
});
type HeldBy = z.infer<typeof ownerSchema>;

const registrySchema = z.object({
  pid: z.number().int().positive(),
  profile: z.string(),
  appId: z.string(),
  stateDir: z.string(),
  startedAt: z.string(),
  version: z.string().optional(),
  entry: z.string().optional(),
});

function takeLock(path: string, text: string, pid: number, describe: (held: HeldBy) => string): void {
  for (let round = 0; round < MAX_ROUNDS; round++) {
    if (createExclusive(path, text)) {
      heldHere.add(path);
      return;
    }
    const found = readLock(path);
    if (found === undefined) continue; // released between our create and our read: try again
    const held = parseJson(found.text, ownerSchema);
    if (held) {
      if (held.hostname !== undefined && held.hostname !== osHostname()) {
        // A state directory shared between machines: their pids mean nothing here.
        throw new LarkcodeError(
          LOCK_KIND,
          `larkcode is running ${describe(held)} on host ${held.hostname} (pid ${held.pid}${since(held)}). ` +
            `If it is not, delete ${path}.`,
        );
      }
      // Our own pid is alive by definition: it is ours only if this process took it, else it is
      // left from an earlier process that had the same pid (pids repeat across reboots).
      const alive =
        held.pid === pid || held.pid === process.pid ? heldHere.has(path) : holderAlive(held.pid, held);
      if (alive) {
        throw new LarkcodeError(
          LOCK_KIND,
          `larkcode is already running ${describe(held)} (pid ${held.pid}${since(held)}). ` +
            `Two processes on one app split Feishu's events at random: stop it first ` +
            `(larkcode daemon stop, or kill ${held.pid}).`,
        );
      }
    }
    // Stale: dead pid, a pid now used by another program, our own pid from a previous boot, or
    // not a lock we can read.
    reapStale(path, found);
  }
  throw new LarkcodeError(LOCK_KIND, `could not take ${path}: other larkcode processes keep changing it`);
}

/**
 * Create `path` with its whole content, only if it does not exist. The content goes into a
 * private temp file first and is hard-linked into place (`link(2)` fails if the target exists,
 * exactly like O_EXCL): a lock is never visible empty or half-written, so a concurrent starter can
 * never mistake a lock being written for a corrupt, stale one. Where hard links are not supported
 * (some network / FUSE file systems) it falls back to O_EXCL + write.
 */
function createExclusive(path: string, text: string): boolean {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.new`;
  writeNew(tmp, text);
  try {
    linkSync(tmp, path);
    return true;
  } catch (error) {
    if (isErrno(error, 'EEXIST')) return false;
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK'].some((code) => isErrno(error, code))) {
      throw error;
    }
  } finally {
    unlinkQuiet(tmp);
  }
  try {
    writeNew(path, text);
    return true;
  } catch (error) {
    if (isErrno(error, 'EEXIST')) return false;
    throw error;
  }
}

function writeNew(path: string, text: string): void {
  const fd = openSync(path, 'wx', 0o600);
  try {
    const bytes = Buffer.from(text, 'utf8');
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    // No fsync: after a power cut the holder is dead anyway, and an empty file reads as stale.
  } finally {
    closeSync(fd);
  }
}

interface FoundLock {
  text: string;
  dev: number;
  ino: number;
}

function readLock(path: string): FoundLock | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
  try {
    const { dev, ino } = fstatSync(fd);
    return { text: readFileSync(fd, 'utf8'), dev, ino };
  } finally {
    closeSync(fd);
  }
}

/**
 * Remove the stale lock `found` — and nothing else. Judging a lock stale and removing it are two
 * steps, and between them another starter may already have replaced it with a live lock; removing
 * that one would let two processes run. So a takeover first hard-links the lock to `<path>.reap`:
 * the link is exclusive (one taker at a time) and names the very file it linked. Only when that
 * file is the one judged stale (same inode, same bytes) is the lock removed; otherwise the extra
 * name is dropped and the caller looks again. The lock itself never moves out of the way, so
 * there is no moment where a live lock is missing.
 */
function reapStale(path: string, found: FoundLock): void {
  const reap = `${path}.reap`;
  try {
    linkSync(path, reap);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return; // already gone
    if (isErrno(error, 'EEXIST')) {
      clearAbandonedReap(reap);
      return;
    }
    if (['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK'].some((code) => isErrno(error, code))) {
      // No hard links here: plain unlink, racy only against a simultaneous takeover.
      unlinkQuiet(path);
      return;
    }
    throw error;
  }
  try {
    const linked = readLock(reap);
    if (linked && linked.dev === found.dev && linked.ino === found.ino && linked.text === found.text) {
      unlinkQuiet(path);
    }
  } finally {
    unlinkQuiet(reap);
  }
}

/** Another starter is taking over: wait a moment, or clear its mutex if it died doing so. */
function clearAbandonedReap(reap: string): void {
  let ctimeMs: number;
  try {
    ctimeMs = lstatSync(reap).ctimeMs;
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return;
    throw error;
  }
  if (Date.now() - ctimeMs > REAP_STALE_MS) unlinkQuiet(reap);
  else sleepSync(10);
}

function releaseLock(path: string, text: string): void {
  heldHere.delete(path);
  let current: string;
  try {
    current = readFileSync(path, 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return;
    throw error;
  }
  // Someone judged us dead and took over (e.g. after a SIGSTOP): theirs now, leave it.
  if (current === text) unlinkQuiet(path);
}

function removeRegistryEntry(path: string, pid: number, startedAt: string): void {
  liveEntries.delete(path);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return;
    throw error;
  }
  const entry = parseJson(text, registrySchema);
  if (!entry || (entry.pid === pid && entry.startedAt === startedAt)) unlinkQuiet(path);
}

// ── is the holder still running? ────────────────────────────────────────────────────────────────

/**
 * `kill(pid, 0)` says whether a pid exists (EPERM: it does, owned by someone else). A pid outlives
 * nothing, though: after a crash or a reboot it may belong to an unrelated program, so on Linux
 * the holder's command line must also look like larkcode. Where /proc cannot tell, trust kill.
 */
function holderAlive(pid: number, held: { entry?: string | undefined }): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if (!isErrno(error, 'EPERM')) return false;
  }
  const cmdline = readCmdline(pid);
  if (cmdline === undefined) return true;
  return cmdline.includes('larkcode') || (held.entry !== undefined && cmdline.includes(held.entry));
}

/** The command line, NULs as spaces; undefined when /proc is absent or will not say. */
function readCmdline(pid: number): string | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch (error) {
    // ENOENT with a pid kill() just found: hidepid, or it exited this instant — can't tell.
    if (isErrno(error, 'ENOENT') || isErrno(error, 'EACCES') || isErrno(error, 'EPERM')) return undefined;
    throw error;
  }
}

// ── small helpers ───────────────────────────────────────────────────────────────────────────────

function parseJson<T>(text: string, schema: z.ZodType<T>): T | undefined {
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function since(held: HeldBy): string {
  return held.startedAt ? `, since ${held.startedAt}` : '';
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw error;
  }
}
