import { execFileSync } from 'node:child_process';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { LarkcodeError } from '../core/errors.js';
import { readPrivateFileSync } from '../security/private-file.js';
import { KEYSTORE_NAME, type Keystore } from './keystore.js';

/**
 * Where a secret comes from (seed 004 §5.14): secrets are named in config.json by reference so the
 * file itself can be shared, backed up or pasted into an issue without leaking them.
 *
 * - `env:NAME` — an environment variable of the daemon;
 * - `file:/abs/path` or `file:~/path` — a file only its owner can read (one trailing newline dropped);
 * - `exec:command args…` — a command's stdout, trimmed (`/bin/sh -c`, e.g. a password manager CLI);
 * - `keystore:name` — an entry of the encrypted local keystore (`keystore.ts`);
 * - anything else — the literal value (config.json took literals before references existed).
 */
export type SecretRef = string;

export type ParsedSecretRef =
  | { kind: 'env'; name: string }
  | { kind: 'file'; path: string }
  | { kind: 'exec'; command: string }
  | { kind: 'keystore'; name: string }
  | { kind: 'literal'; value: string };

export interface SecretContext {
  /** `env:` reads from here, and an `exec:` command runs with it. */
  env: NodeJS.ProcessEnv;
  /** What `file:~/…` expands to. */
  home: string;
  /** Needed only for `keystore:` references. */
  keystore?: Pick<Keystore, 'get'>;
  /** An `exec:` command is killed after this long; default 5 s. */
  execTimeoutMs?: number;
}

export const DEFAULT_EXEC_TIMEOUT_MS = 5_000;
/** A secret is a key or a token; more than this is a misconfigured path or command, not a secret. */
const MAX_SECRET_BYTES = 64 * 1024;
/** How much of a failed command's stderr an error quotes: enough to diagnose, too little to dump. */
const STDERR_EXCERPT_CHARS = 200;
/** Shorter values would redact ordinary words and digits all over a log. */
const MIN_REDACTED_LENGTH = 4;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PREFIXES = ['env:', 'file:', 'exec:', 'keystore:'] as const;

/** True for `env:`, `file:`, `exec:` and `keystore:` references; false for a literal value. */
export function isReference(value: string): boolean {
  return PREFIXES.some((prefix) => value.startsWith(prefix));
}

/**
 * Split a reference into its kind and argument, checking its syntax only (nothing is read).
 * A string with a reference prefix but a bad argument is an error, never a literal: `env:MY-KEY`
 * silently becoming the secret "env:MY-KEY" would surface much later as a confusing auth failure.
 */
export function parseSecretRef(ref: SecretRef): ParsedSecretRef {
  const problem = refProblem(ref);
  if (problem !== undefined) throw fail(ref, problem);
  if (ref.startsWith('env:')) return { kind: 'env', name: ref.slice(4) };
  if (ref.startsWith('file:')) return { kind: 'file', path: ref.slice(5) };
  if (ref.startsWith('exec:')) return { kind: 'exec', command: ref.slice(5).trim() };
  if (ref.startsWith('keystore:')) return { kind: 'keystore', name: ref.slice(9) };
  return { kind: 'literal', value: ref };
}

/** Why `ref` is malformed, or undefined. Never quotes a literal (it is the secret). */
function refProblem(ref: string): string | undefined {
  if (ref.startsWith('env:')) {
    return ENV_NAME.test(ref.slice(4)) ? undefined : 'env: needs a variable name (letters, digits, _)';
  }
  if (ref.startsWith('file:')) {
    const path = ref.slice(5);
    if (path.includes('\0')) return 'file: path contains a NUL character';
    if (isAbsolute(path) || path.startsWith('~/')) return undefined;
    return 'file: needs an absolute path or one starting with ~/';
  }
  if (ref.startsWith('exec:')) {
    return ref.slice(5).trim() === '' ? 'exec: needs a command' : undefined;
  }
  if (ref.startsWith('keystore:')) {
    return KEYSTORE_NAME.test(ref.slice(9))
      ? undefined
      : 'keystore: needs an entry name (lowercase letters, digits, _ . -; at most 64)';
  }
  return ref === '' ? 'a secret must not be empty' : undefined;
}

/** A secret reference or a non-empty literal; for config fields that hold secrets. */
export const secretRefSchema = z.string().superRefine((value, ctx) => {
  const problem = refProblem(value);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

/**
 * The secret `ref` names. Every failure is a `LarkcodeError('config')` whose message names the
 * reference (never the value, nor a command's output) and has no `cause` that could carry it.
 */
export function resolveSecret(ref: SecretRef, ctx: SecretContext): string {
  const parsed = parseSecretRef(ref);
  switch (parsed.kind) {
    case 'literal':
      return parsed.value;
    case 'env':
      return fromEnv(ref, parsed.name, ctx.env);
    case 'file':
      return fromFile(ref, expandHome(parsed.path, ctx.home));
    case 'exec':
      return fromExec(ref, parsed.command, ctx);
    case 'keystore':
      return fromKeystore(ref, parsed.name, ctx.keystore);
  }
}

function fromEnv(ref: string, name: string, env: NodeJS.ProcessEnv): string {
  const value = env[name];
  // Empty counts as unset: `FOO= larkcode start` is a mistake, not an intended empty key.
  if (!value) throw fail(ref, `environment variable ${name} is not set`);
  return value;
}

function expandHome(path: string, home: string): string {
  return path.startsWith('~/') ? join(home, path.slice(2)) : path;
}

/** Only a file its owner alone can access (checked on the opened file, so a symlink counts by its target). */
function fromFile(ref: string, path: string): string {
  let text: string | undefined;
  try {
    text = readPrivateFileSync(path, { maxBytes: MAX_SECRET_BYTES });
  } catch (error) {
    throw fail(ref, (error as Error).message);
  }
  if (text === undefined) throw fail(ref, `${path} does not exist`);
  // Exactly one: editors add one, and a value may legitimately end in other whitespace.
  const value = text.endsWith('\r\n') ? text.slice(0, -2) : text.endsWith('\n') ? text.slice(0, -1) : text;
  if (value === '') throw fail(ref, `${path} is empty`);
  return value;
}

/**
 * The command's stdout, trimmed. Runs synchronously (config is resolved once, at start) with the
 * context's environment; killed with SIGKILL after the timeout. Only the shell is killed: dash
 * forks even a lone command, and spawnSync cannot kill a process group, so a hung program outlives
 * the timeout unless the reference says `exec:exec prog …` (then the shell *is* the program).
 */
function fromExec(ref: string, command: string, ctx: SecretContext): string {
  const timeoutMs = ctx.execTimeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
  let stdout: string;
  try {
    stdout = execFileSync('/bin/sh', ['-c', command], {
      env: ctx.env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
      maxBuffer: MAX_SECRET_BYTES,
      windowsHide: true,
    });
  } catch (error) {
    // The thrown error carries stdout (possibly the secret, printed before a failing step) and
    // stderr in full, so it is never attached as a cause; only a scrubbed excerpt is quoted.
    const e = error as NodeJS.ErrnoException & { status?: number | null; stdout?: unknown; stderr?: unknown };
    if (e.code === 'ETIMEDOUT') throw fail(ref, `command did not finish within ${timeoutMs} ms`);
    if (e.code === 'ENOBUFS') throw fail(ref, `command printed more than ${MAX_SECRET_BYTES} bytes`);
    if (typeof e.status !== 'number') throw fail(ref, `command could not run (${e.code ?? e.name})`);
    const excerpt = stderrExcerpt(asText(e.stderr), asText(e.stdout));
    throw fail(ref, `command exited with code ${e.status}${excerpt ? `: ${excerpt}` : ''}`);
  }
  const value = stdout.trim();
  if (value === '') throw fail(ref, 'command printed nothing');
  return value;
}

function fromKeystore(ref: string, name: string, keystore: Pick<Keystore, 'get'> | undefined): string {
  if (keystore === undefined) throw fail(ref, 'the keystore is not open');
  const value = keystore.get(name);
  if (value === undefined) throw fail(ref, `the keystore has no entry named ${name}`);
  return value;
}

/** One line of stderr, at most ~200 characters, with anything the command printed on stdout blanked. */
function stderrExcerpt(stderr: string, stdout: string): string {
  const printed = [stdout.trim(), ...stdout.split(/\r?\n/).map((line) => line.trim())];
  const line = redactSecrets(stderr, printed).replace(/\s+/g, ' ').trim();
  return line.length > STDERR_EXCERPT_CHARS ? `${line.slice(0, STDERR_EXCERPT_CHARS)}…` : line;
}

function asText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return '';
}

function _errnoCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}

function fail(ref: string, problem: string): LarkcodeError {
  return new LarkcodeError('config', `secret ${describeRef(ref)}: ${problem}`);
}

/** How an error names a reference: the reference itself, but never a literal (that is the secret). */
function describeRef(ref: string): string {
  if (!isReference(ref)) return '(literal value)';
  return ref.length > 120 ? `${ref.slice(0, 120)}…` : ref;
}

/**
 * `text` with every occurrence of each secret replaced by `[redacted]`, for logs and cards.
 * Values shorter than 4 characters are left alone (they would blank ordinary text). Longest first,
 * so a secret containing another is replaced whole; each secret's JSON-escaped form too, since
 * log lines are JSON and a value with `"` or `\` appears escaped there.
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  const needles = new Set<string>();
  for (const secret of secrets) {
    if (secret.length < MIN_REDACTED_LENGTH) continue;
    needles.add(secret);
    const escaped = JSON.stringify(secret).slice(1, -1);
    if (escaped !== secret) needles.add(escaped);
  }
  let out = text;
  for (const needle of [...needles].sort((a, b) => b.length - a.length)) {
    out = out.split(needle).join('[redacted]');
  }
  return out;
}
