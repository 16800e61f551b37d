import { realpathSync, statSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { isAbsolute, parse, relative, resolve, sep } from 'node:path';
import { LarkcodeError } from '../core/errors.js';

export interface WorkspaceRules {
  /** Default `os.homedir()`. */
  home?: string;
  /** When non-empty, the workspace must be inside one of these (after realpath of both). */
  allowedRoots?: readonly string[];
  /** Relative paths resolve against this (the scope's current workspace); without it they are refused. */
  base?: string;
}

/** PATH_MAX on Linux; longer input is never a real directory, only a way to make us work. */
const MAX_INPUT = 4096;

/** Refused as workspaces themselves; what is inside them is fine (/srv/app, /opt/tool, /var/www). */
const SYSTEM_ROOTS = [
  '/bin',
  '/boot',
  '/dev',
  '/etc',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
  '/opt',
  '/proc',
  '/root',
  '/run',
  '/sbin',
  '/srv',
  '/sys',
  '/usr',
  '/var',
  '/System',
  '/Library',
  '/Applications',
  '/private',
  '/private/var',
];

/** Refused together with everything inside them: no project lives there, secrets and devices do. */
const SYSTEM_TREES = [
  '/etc',
  '/proc',
  '/sys',
  '/dev',
  '/boot',
  '/bin',
  '/sbin',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
  '/usr',
  '/System',
  '/private/etc',
];

const USER_ROOTS = ['/home', '/Users'];
const TEMP_ROOTS = ['/tmp', '/var/tmp', '/private/tmp', '/private/var/tmp'];

/**
 * Where disks are mounted, and how many levels below that a volume's top is: `/media/<user>/<label>`
 * (Ubuntu) and `/run/media/<user>/<label>` (Fedora) have a per-user level.
 */
const MOUNT_PARENTS: readonly (readonly [string, number])[] = [
  ['/mnt', 1],
  ['/media', 2],
  ['/run/media', 2],
  ['/Volumes', 1],
];

/** The folders desktops fill with everything; the Chinese ones are the XDG names under a zh_CN locale. */
const CLUTTER_FOLDERS = ['Desktop', 'Downloads', 'Documents', '桌面', '下载', '文档'];

const CONTROL = /[\p{Cc}\u2028\u2029]/u;
const BIDI = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u;
/** Format characters (zero-width space/joiners, BOM, soft hyphen, tags) and blank fillers draw nothing. */
const INVISIBLE = /\p{Cf}|[\u115F\u1160\u3164\uFFA0]|\u034F|[\uFE00-\uFE0F]/u;
/** Any whitespace but the plain space (no-break, ideographic, thin…): control ones are refused before. */
const ODD_SPACE = /[^\S ]/u;
const SLASH_LOOKALIKE = /[\u1735\u2044\u2215\u2571\u27CB\u29F8\u2F03\u3033\u31D3\uFF0F]|\u0337|\u0338/u;
const TILDE_LOOKALIKE = /^[\u02DC\u2053\u223C\u301C\uFF5E]/u;
/** Scripts whose letters pass for Latin ones; named when a path does not exist, as the likely reason. */
const LATIN_LOOKALIKE = /[\u0370-\u03FF\u0400-\u052F\u0530-\u058F\uFF01-\uFF5E]/u;

/**
 * Resolve a workspace chosen by a chat user (`/cd`, `/ws add`) or the config to its real path,
 * refusing anything too broad or too sensitive to hand to an agent. Throws
 * `LarkcodeError('workspace')` with a one-line message saying what is wrong and what to do.
 */
export function resolveWorkspace(input: string, rules: WorkspaceRules = {}): string {
  const home = rules.home ?? homedir();
  const text = checkCharacters(input);
  const abs = absolute(text, home, rules.base);

  // Magic links under /proc and /dev/fd point anywhere (/proc/self/cwd is our own directory),
  // so the path as typed is judged too, not only where it leads.
  const typedTree = SYSTEM_TREES.find((tree) => depthBelow(abs, tree) >= 0);
  if (typedTree) refuse(systemTreeMessage(abs, typedTree));

  const real = realDirectory(abs, text);
  const broad = broadness(real, home);
  if (broad) refuse(broad);

  const roots = (rules.allowedRoots ?? []).map(safeReal);
  if (roots.length > 0 && !roots.some((root) => isInside(real, root))) {
    refuse(
      `${shown(real)} is outside the allowed workspace roots (${roots.map(shown).join(', ')}); ` +
        'choose a directory inside one of them',
    );
  }
  return real;
}

/** The config's workspace: an absolute path (or `~/…`) under the same rules, no base, no roots. */
export function validateWorkspace(path: string, home = homedir()): string {
  return resolveWorkspace(path, { home });
}

/** Trimmed input, or a refusal of characters that hide what the path really is. */
function checkCharacters(input: string): string {
  if (input.length > MAX_INPUT) {
    refuse(`the path is too long (${input.length} characters, at most ${MAX_INPUT}); give a shorter path`);
  }
  const text = input.trim();
  if (text === '') refuse('no path given; give the path of a project directory');
  if (text.includes('\0')) refuse('the path contains a NUL byte; type it again as plain text');
  const control = text.match(CONTROL);
  if (control) {
    refuse(
      `the path contains a control character (${codePoint(control[0])}); type it on one line, without tabs`,
    );
  }
  const bidi = text.match(BIDI);
  if (bidi) {
    refuse(
      `the path contains a text-direction control (${codePoint(bidi[0])}) that makes it display ` +
        'differently from what it is; type it again',
    );
  }
  const invisible = text.match(INVISIBLE);
  if (invisible) {
    refuse(`the path contains an invisible character (${codePoint(invisible[0])}); type it again without it`);
  }
  const space = text.match(ODD_SPACE);
  if (space) {
    refuse(
      `the path contains a character that only looks like a space (${codePoint(space[0])}); ` +
        'use a plain space',
    );
  }
  const slash = text.match(SLASH_LOOKALIKE);
  if (slash) {
    refuse(
      `the path contains a character that only looks like '/' ('${slash[0]}', ${codePoint(slash[0])}); ` +
        "use the ASCII '/'",
    );
  }
  const tilde = text.match(TILDE_LOOKALIKE);
  if (tilde) {
    refuse(
      `the path starts with a character that only looks like '~' ('${tilde[0]}', ${codePoint(tilde[0])}); ` +
        "use the ASCII '~'",
    );
  }
  return text;
}

/** `~` and `~/…` against home, relative paths against the base; `.` and `..` folded lexically. */
function absolute(text: string, home: string, base: string | undefined): string {
  if (text === '~' || text.startsWith('~/')) {
    if (!isAbsolute(home)) refuse('your home directory is not known here; give an absolute path');
    // `~//etc` is home/etc, as in a shell, not /etc.
    return resolve(home, text.slice(1).replace(/^\/+/, ''));
  }
  if (text.startsWith('~')) {
    refuse(`${shown(text)}: only '~' and '~/…' (your own home) are understood; give an absolute path`);
  }
  if (isAbsolute(text)) return resolve(text);
  // A base that is not absolute would silently mean the daemon's own directory.
  if (!base || !isAbsolute(base)) {
    refuse(
      `${shown(text)} is a relative path and there is no current workspace to resolve it against; ` +
        'give an absolute path or one starting with ~/',
    );
  }
  return resolve(base, text);
}

/** The real path (symlinks followed, case as on disk) of an existing directory. */
function realDirectory(abs: string, text: string): string {
  let real: string;
  try {
    // .native: the JS realpath keeps the typed case, so /USERS would slip past '/Users' on macOS.
    real = realpathSync.native(abs);
  } catch (error) {
    refuse(unresolvable(abs, text, (error as NodeJS.ErrnoException).code));
  }
  let directory: boolean;
  try {
    directory = statSync(real).isDirectory();
  } catch (error) {
    refuse(unresolvable(real, text, (error as NodeJS.ErrnoException).code));
  }
  if (!directory) refuse(`${shown(real)} is not a directory; give the directory itself`);
  return real;
}

function unresolvable(abs: string, text: string, code: string | undefined): string {
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR': {
      const lookalike = text.match(LATIN_LOOKALIKE);
      const hint = lookalike
        ? ` ('${lookalike[0]}' in it is ${codePoint(lookalike[0])}, not the Latin letter or sign it may look like)`
        : '';
      return `${shown(abs)} does not exist${hint}; check the path`;
    }
    case 'ELOOP':
      return `${shown(abs)} is a symbolic link loop; give a real directory`;
    case 'EACCES':
    case 'EPERM':
      return `${shown(abs)} cannot be opened (permission denied); give a directory you can read`;
    case 'ENAMETOOLONG':
      return 'the path or a name in it is too long for the filesystem; give a shorter path';
    default:
      return `${shown(abs)} cannot be resolved (${code ?? 'unknown error'}); check the path`;
  }
}

/** Why a real directory is too broad or sensitive to be a workspace, or undefined when it is fine. */
function broadness(real: string, home: string): string | undefined {
  const path = shown(real);
  if (real === parse(real).root) return `${path} is the whole filesystem; choose a project directory`;

  const realHome = safeReal(home);
  if (same(real, realHome)) return `${path} is your home directory; choose a project inside it`;
  for (const name of CLUTTER_FOLDERS) {
    // Real path too: a Desktop synced by iCloud is a symlink into ~/Library.
    if (same(real, safeReal(resolve(realHome, name)))) {
      return `${path} is your ${name} folder; choose a project inside it`;
    }
  }
  for (const root of USER_ROOTS) {
    const depth = depthBelow(real, root);
    if (depth === 0) return `${path} holds every user's home directory; choose a project inside yours`;
    if (depth === 1) return `${path} is a user's home directory; choose a project inside it`;
  }
  for (const [parent, levels] of MOUNT_PARENTS) {
    const depth = depthBelow(real, parent);
    if (depth === 0) return `${path} is where disks are mounted; choose a project directory on one of them`;
    if (depth > 0 && depth <= levels) {
      return `${path} is the top of a mounted disk; choose a project directory inside it`;
    }
  }

  const temp = [...TEMP_ROOTS, safeReal(tmpdir())];
  if (temp.some((root) => same(real, root))) {
    return `${path} is the temporary-files directory; make a project directory inside it`;
  }
  const tree = SYSTEM_TREES.find((root) => depthBelow(real, root) >= 0);
  if (tree) return systemTreeMessage(real, tree);
  if (SYSTEM_ROOTS.some((root) => same(real, root))) {
    return `${path} is a system directory; choose a project directory`;
  }
  if (depthBelow(realHome, real) > 0) {
    return `${path} contains your home directory; choose a project inside your home`;
  }
  return undefined;
}

function systemTreeMessage(path: string, tree: string): string {
  return same(path, tree)
    ? `${shown(path)} is a system directory; choose a project directory`
    : `${shown(path)} is inside ${tree}, a system directory; choose a project directory`;
}

/**
 * Levels of `path` below `parent` (0: the same), or -1 when not inside. Case-folded: the deny
 * lists must also catch /ETC on a case-insensitive disk; folding only ever refuses more.
 */
function depthBelow(path: string, parent: string): number {
  const rel = relative(fold(parent), fold(path));
  if (rel === '') return 0;
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return -1;
  return rel.split(sep).length;
}

function same(a: string, b: string): boolean {
  return depthBelow(a, b) === 0;
}

/**
 * Exact, not folded: on a case-sensitive disk /Allowed is not /allowed. A root itself counts as
 * inside; `..foo` (a name) does not count as `..` (a way out).
 */
function isInside(path: string, root: string): boolean {
  const rel = relative(root, path);
  return !(rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel));
}

function fold(path: string): string {
  return path.toLowerCase();
}

function safeReal(path: string): string {
  try {
    return realpathSync.native(path);
  } catch {
    return resolve(path);
  }
}

/** A path as a message may show it: one line, nothing hidden, not endless. */
function shown(path: string): string {
  const visible = path.replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, (c) => `<${codePoint(c)}>`);
  return visible.length > 300 ? `${visible.slice(0, 150)}…${visible.slice(-100)}` : visible;
}

function codePoint(char: string): string {
  return `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

function refuse(message: string): never {
  throw new LarkcodeError('workspace', message);
}
