import { basename, dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import type { ApprovalRequest, SandboxMode } from '../agents/types.js';

/**
 * When the agent asks permission, who must say yes. Pure: a request and the workspace's rules
 * in, a plan out. The shell parsing here only ever raises a risk — anything it does not
 * understand is at least a write — so being approximate is safe, being clever is not.
 */

export type ApproverLevel = 'auto' | 'requester' | 'admin' | 'owner';
export type RiskClass = 'read' | 'write' | 'dangerous';

/** Who must approve each risk class; per profile, overridable per workspace. */
export interface ApprovalRuleSet {
  read: ApproverLevel;
  write: ApproverLevel;
  dangerous: 'admin' | 'owner';
}

export const defaultApprovalRules: ApprovalRuleSet = Object.freeze({
  read: 'auto',
  write: 'requester',
  dangerous: 'owner',
});

const approverLevel = z.enum(['auto', 'requester', 'admin', 'owner']);

/** For a profile's or a workspace's rules in a config or state file; missing levels are defaults. */
export const approvalRuleSetSchema = z.strictObject({
  read: approverLevel
    .default(defaultApprovalRules.read)
    .describe('Who approves a read-only command (`ls`, `cat`, `git status` …).'),
  write: approverLevel
    .default(defaultApprovalRules.write)
    .describe('Who approves other commands and file changes inside the workspace.'),
  dangerous: z
    .enum(['admin', 'owner'])
    .default(defaultApprovalRules.dangerous)
    .describe(
      'Who approves a dangerous action: outside the sandbox or the workspace, network, `sudo`. Never automatic.',
    ),
}) satisfies z.ZodType<ApprovalRuleSet, unknown>;

export interface ApprovalClassification {
  risk: RiskClass;
  /** Short hints for the card, most serious first. Never empty for write/dangerous. */
  hints: string[];
  /**
   * The words an "Always allow here" rule would store (`['npm','test']`, `['git','push']`,
   * `['ls']`); undefined when no rule may be made for this request.
   */
  alwaysPrefix?: string[];
}

export type ApprovalPlan =
  | { kind: 'auto'; note: string; classification: ApprovalClassification }
  | {
      kind: 'ask';
      approvers: 'requester' | 'admin' | 'owner';
      twoPerson: boolean;
      classification: ApprovalClassification;
    };

export interface ApprovalContext {
  /** The scope's workspace, a resolved real path. */
  workspace: string;
  sandbox: SandboxMode;
}

export interface PlanContext extends ApprovalContext {
  rules: ApprovalRuleSet;
  /** Stored "always allow" prefixes for this workspace. */
  allowPrefixes: string[][];
  inGroup: boolean;
  twoPersonInGroups: boolean;
}

// ---------------------------------------------------------------------------------------------
// Shell scanning

interface ShellWord {
  /** The word with quotes and escapes removed; `$X` and `~` are kept as typed. */
  text: string;
  /** Holds a `$…` expansion or a substitution: its value is only known when it runs. */
  expands: boolean;
  /** Holds an unquoted `{`: brace expansion may turn it into several other words. */
  braces: boolean;
}

interface Redirect {
  direction: 'in' | 'out';
  /** The file; undefined for a descriptor copy (`2>&1`) or a here-string. */
  target?: ShellWord;
}

interface ShellScan {
  /** Simple commands in order (a pipeline's, a list's, a substitution's — flattened). */
  segments: ShellWord[][];
  /** `;` `&&` `||` `|` `&`, a newline or a subshell outside quotes. */
  compound: boolean;
  /** `$(…)`, backticks, `<(…)`, `>(…)` — also inside double quotes, where they still run. */
  substitution: boolean;
  redirects: Redirect[];
  /** An unterminated quote, substitution or here-document; a dangling operator. */
  broken: boolean;
}

interface Frame {
  kind: 'top' | 'paren' | 'backtick';
  /** Open parentheses of a `$(`; the frame closes when it drops to 0. */
  depth: number;
  inDoubleQuotes: boolean;
  word?: ShellWord;
  segment: ShellWord[];
  pendingRedirect?: 'in' | 'out' | 'heredoc' | 'heredoc-tabs' | 'herestring';
}

/** A character after `$` that starts an expansion (`$HOME`, `${x}`, `$1`, `$@`…). */
const EXPANSION_START = /[A-Za-z_{0-9@*#?!$-]/;

/**
 * A POSIX-ish reading of one shell script: quotes, escapes, operators, redirections,
 * substitutions (nested, also inside double quotes), comments and here-document bodies. Not a
 * shell: it only has to find the words of a simple command and notice anything else.
 */
function scanShell(script: string): ShellScan {
  const scan: ShellScan = {
    segments: [],
    compound: false,
    substitution: false,
    redirects: [],
    broken: false,
  };
  const frames: Frame[] = [{ kind: 'top', depth: 0, inDoubleQuotes: false, segment: [] }];
  const heredocs: { delimiter: string; stripTabs: boolean }[] = [];
  let topSegments = 0;
  let i = 0;

  const draft = (f: Frame): ShellWord => {
    f.word ??= { text: '', expands: false, braces: false };
    return f.word;
  };
  const endWord = (f: Frame): void => {
    const word = f.word;
    if (!word) return;
    f.word = undefined;
    const pending = f.pendingRedirect;
    if (pending === undefined) {
      f.segment.push(word);
      return;
    }
    f.pendingRedirect = undefined;
    if (pending === 'heredoc' || pending === 'heredoc-tabs') {
      heredocs.push({ delimiter: word.text, stripTabs: pending === 'heredoc-tabs' });
      scan.redirects.push({ direction: 'in' });
    } else if (pending === 'herestring') {
      scan.redirects.push({ direction: 'in' });
    } else {
      scan.redirects.push({ direction: pending, target: word });
    }
  };
  const endSegment = (f: Frame): void => {
    endWord(f);
    if (f.pendingRedirect !== undefined) scan.broken = true;
    f.pendingRedirect = undefined;
    if (f.segment.length > 0) {
      scan.segments.push(f.segment);
      if (f.kind === 'top') topSegments++;
    }
    f.segment = [];
  };
  const controlOperator = (f: Frame): void => {
    scan.compound = true;
    endSegment(f);
  };
  const openSubstitution = (f: Frame, kind: 'paren' | 'backtick'): void => {
    scan.substitution = true;
    draft(f).expands = true;
    frames.push({ kind, depth: 1, inDoubleQuotes: false, segment: [] });
  };
  const closeSubstitution = (): void => {
    const inner = frames.pop()!;
    endSegment(inner);
  };
  const startRedirect = (f: Frame, kind: NonNullable<Frame['pendingRedirect']>): void => {
    // `2>x`: the digits right before the operator name a descriptor, not a word.
    if (f.word && /^\d+$/.test(f.word.text) && !f.word.expands) f.word = undefined;
    endWord(f);
    if (f.pendingRedirect !== undefined) scan.broken = true;
    f.pendingRedirect = kind;
  };
  /** After the newline that ends their command line, here-document bodies are text, not commands. */
  const skipHeredocBodies = (): void => {
    while (heredocs.length > 0) {
      const { delimiter, stripTabs } = heredocs.shift()!;
      for (;;) {
        if (i >= script.length) {
          scan.broken = true;
          return;
        }
        const end = script.indexOf('\n', i);
        const line = script.slice(i, end < 0 ? script.length : end);
        i = end < 0 ? script.length : end + 1;
        if ((stripTabs ? line.replace(/^\t+/, '') : line) === delimiter) break;
      }
    }
  };

  while (i < script.length && !scan.broken) {
    const f = frames[frames.length - 1]!;
    const c = script[i]!;
    const next = script[i + 1];

    if (f.inDoubleQuotes) {
      if (c === '"') {
        f.inDoubleQuotes = false;
        i++;
      } else if (c === '\\') {
        if (next !== undefined && '$`"\\\n'.includes(next)) {
          if (next !== '\n') draft(f).text += next;
          i += 2;
        } else {
          draft(f).text += c;
          i++;
        }
      } else if (c === '$' && next === '(') {
        openSubstitution(f, 'paren');
        i += 2;
      } else if (c === '`') {
        openSubstitution(f, 'backtick');
        i++;
      } else {
        if (c === '$' && next !== undefined && EXPANSION_START.test(next)) draft(f).expands = true;
        draft(f).text += c;
        i++;
      }
      continue;
    }

    switch (c) {
      case ' ':
      case '\t':
        endWord(f);
        i++;
        break;
      case '\n':
        // Only a second command makes a newline a list; a trailing one ends the only command.
        endSegment(f);
        i++;
        skipHeredocBodies();
        break;
      case "'": {
        const end = script.indexOf("'", i + 1);
        if (end < 0) {
          scan.broken = true;
          break;
        }
        draft(f).text += script.slice(i + 1, end);
        i = end + 1;
        break;
      }
      case '"':
        draft(f);
        f.inDoubleQuotes = true;
        i++;
        break;
      case '\\':
        if (next === undefined) {
          scan.broken = true;
          break;
        }
        if (next !== '\n') draft(f).text += next;
        i += 2;
        break;
      case '`':
        if (f.kind === 'backtick') closeSubstitution();
        else openSubstitution(f, 'backtick');
        i++;
        break;
      case '(':
        if (f.kind === 'paren') f.depth++;
        controlOperator(f);
        i++;
        break;
      case ')':
        if (f.kind === 'paren' && --f.depth === 0) closeSubstitution();
        else controlOperator(f);
        i++;
        break;
      case ';':
      case '|':
        controlOperator(f);
        i++;
        break;
      case '&':
        if (next === '>') {
          startRedirect(f, 'out');
          i += script[i + 2] === '>' ? 3 : 2;
        } else {
          controlOperator(f);
          i++;
        }
        break;
      case '<':
      case '>':
        i = scanRedirect(f, c, i);
        break;
      case '#':
        if (f.word === undefined) {
          // A comment: the rest of the line is never run.
          const end = script.indexOf('\n', i);
          i = end < 0 ? script.length : end;
        } else {
          draft(f).text += c;
          i++;
        }
        break;
      default:
        if (c === '$' && next === '(') {
          openSubstitution(f, 'paren');
          i += 2;
          break;
        }
        if (c === '$' && next !== undefined && EXPANSION_START.test(next)) draft(f).expands = true;
        if (c === '{') draft(f).braces = true;
        draft(f).text += c;
        i++;
    }
  }

  function scanRedirect(f: Frame, c: '<' | '>', at: number): number {
    const next = script[at + 1];
    if (next === '(') {
      endWord(f);
      openSubstitution(f, 'paren');
      return at + 2;
    }
    if (c === '<') {
      if (next === '<') {
        if (script[at + 2] === '<') {
          startRedirect(f, 'herestring');
          return at + 3;
        }
        const tabs = script[at + 2] === '-';
        startRedirect(f, tabs ? 'heredoc-tabs' : 'heredoc');
        return at + (tabs ? 3 : 2);
      }
      if (next === '>') {
        startRedirect(f, 'out');
        return at + 2;
      }
      if (next === '&') return descriptorCopy(f, 'in', at + 2);
      startRedirect(f, 'in');
      return at + 1;
    }
    if (next === '&') return descriptorCopy(f, 'out', at + 2);
    startRedirect(f, 'out');
    return at + (next === '>' || next === '|' ? 2 : 1);
  }

  /** `>&2`, `2>&1`, `<&0`, `>&-` copy a descriptor; `>&file` is a file like `&>file`. */
  function descriptorCopy(f: Frame, direction: 'in' | 'out', from: number): number {
    const fd = /^(\d+|-)(?![^\s;&|<>()])/.exec(script.slice(from));
    if (!fd) {
      startRedirect(f, direction);
      return from;
    }
    startRedirect(f, direction);
    f.pendingRedirect = undefined;
    scan.redirects.push({ direction });
    return from + fd[0].length;
  }

  if (frames.length > 1 || frames[0]!.inDoubleQuotes || heredocs.length > 0) scan.broken = true;
  endSegment(frames[0]!);
  if (topSegments > 1) scan.compound = true;
  return scan;
}

const SHELLS = new Set(['bash', 'sh', 'zsh', 'dash']);

const WRAPPER_FLAGS = [['-c'], ['-lc'], ['-cl'], ['-l', '-c'], ['--login', '-c']];

/**
 * `bash -c SCRIPT`, `/bin/bash -lc SCRIPT`, `sh -l -c SCRIPT [ARG0 ARGS…]`: the script, else
 * undefined. Arguments after the script are only its `$0 $1…`, which the script must expand.
 */
function shellWrapperScript(words: readonly ShellWord[]): string | undefined {
  const [program, ...args] = words;
  if (!program || program.expands || !SHELLS.has(basename(program.text))) return undefined;
  if (args.some((a) => a.expands)) return undefined;
  const flags = WRAPPER_FLAGS.find((s) => args.length > s.length && s.every((x, k) => x === args[k]!.text));
  return flags ? args[flags.length]!.text : undefined;
}

type CommandShape =
  | { kind: 'simple'; words: ShellWord[] }
  | { kind: 'complex'; scan: ShellScan }
  | { kind: 'unreadable'; why: string };

function literalWord(text: string): ShellWord {
  return { text, expands: false, braces: false };
}

/** The command of a request, with shell wrappers taken off (a few levels: `bash -c "sh -c '…'"`). */
function commandShape(request: ApprovalRequest): CommandShape {
  let shape: CommandShape;
  if (request.argv && request.argv.length > 0) {
    shape = { kind: 'simple', words: request.argv.map(literalWord) };
  } else if (request.command !== undefined && request.command.trim() !== '') {
    shape = fromScan(scanShell(request.command));
  } else {
    return { kind: 'unreadable', why: 'no command given' };
  }
  for (let depth = 0; depth < 4 && shape.kind === 'simple'; depth++) {
    const script = shellWrapperScript(shape.words);
    if (script === undefined) break;
    shape = fromScan(scanShell(script));
  }
  return shape;
}

function fromScan(scan: ShellScan): CommandShape {
  if (scan.broken) return { kind: 'unreadable', why: 'cannot read the command (unbalanced quotes?)' };
  if (scan.compound || scan.substitution || scan.redirects.length > 0) return { kind: 'complex', scan };
  const [words] = scan.segments;
  return words ? { kind: 'simple', words } : { kind: 'unreadable', why: 'no command given' };
}

/**
 * The words of a command request (argv preferred, shell wrappers unwrapped); undefined for other
 * kinds, and when the script is more than one simple command: control operators, substitutions
 * or redirections outside quotes, or unbalanced quotes.
 */
export function commandWords(request: ApprovalRequest): string[] | undefined {
  if (request.kind !== 'command') return undefined;
  const shape = commandShape(request);
  return shape.kind === 'simple' ? shape.words.map((w) => w.text) : undefined;
}

/** `words` starts with `prefix`, element by element. An empty prefix matches nothing. */
export function matchesPrefix(words: readonly string[], prefix: readonly string[]): boolean {
  return prefix.length > 0 && prefix.length <= words.length && prefix.every((p, k) => p === words[k]);
}

// ---------------------------------------------------------------------------------------------
// Classification

const RANK: Record<RiskClass, number> = { read: 0, write: 1, dangerous: 2 };

/** What was found about a request; only ever raised. */
class Findings {
  risk: RiskClass = 'read';
  /** Something reaches past the workspace; no "always allow" rule covers it. */
  reachesOutside = false;
  /** The request can never be the subject of a rule (sudo, wrappers, file changes…). */
  noRule = false;
  readonly #hints: { risk: RiskClass; text: string }[] = [];

  raise(risk: RiskClass, hint?: string): void {
    if (RANK[risk] > RANK[this.risk]) this.risk = risk;
    if (hint !== undefined && !this.#hints.some((h) => h.text === hint))
      this.#hints.push({ risk, text: hint });
  }

  outside(hint: string): void {
    this.reachesOutside = true;
    this.raise('dangerous', hint);
  }

  hints(): string[] {
    const hints = [...this.#hints].sort((a, b) => RANK[b.risk] - RANK[a.risk]).map((h) => h.text);
    if (hints.length === 0 && this.risk !== 'read') hints.push('may change files');
    return hints;
  }
}

/** Inside `root` or `root` itself, by whole segments: `/ws/a` is not inside `/ws/ab`. */
function isInside(path: string, root: string): boolean {
  const rel = relative(root, path);
  return !(rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel));
}

/** Devices every program may use without reaching anything. */
const HARMLESS_PATHS = new Set(['/dev/null', '/dev/stdin', '/dev/stdout', '/dev/stderr', '/dev/zero']);

/** A path as a hint shows it: one line, not endless. */
function shown(text: string): string {
  const line = text.replace(/[\p{Cc}\p{Cf}]/gu, '?');
  return line.length > 80 ? `${line.slice(0, 60)}…${line.slice(-15)}` : line;
}

interface PathContext {
  workspace: string;
  /** Every directory the command may be in at this point (a compound `cd` adds to them). */
  cwds: string[];
}

/** Where a path-like text may lead outside the workspace, or undefined when it stays inside. */
function outsidePath(text: string, where: PathContext): string | undefined {
  if (text === '') return undefined;
  if (text.startsWith('~')) return text;
  if (text.startsWith('/')) {
    const abs = resolve(text);
    return HARMLESS_PATHS.has(abs) || isInside(abs, where.workspace) ? undefined : text;
  }
  if (!text.split('/').includes('..')) return undefined;
  return where.cwds.some((cwd) => !isInside(resolve(cwd, text), where.workspace)) ? text : undefined;
}

/** The texts in an argument that may be paths: the word, an `=value`, a `-o/path`, brace pieces. */
function pathCandidates(word: ShellWord): string[] {
  const text = word.text;
  const candidates = [text];
  const eq = /^(?:--?[^=]+|[A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(text);
  if (eq) candidates.push(eq[1]!);
  if (/^-[^-]/.test(text) && text.length > 2) candidates.push(text.slice(2));
  if (word.braces) candidates.push(...text.split(/[{},]/));
  return candidates;
}

/** The arguments of a command that may change things, checked for paths past the workspace. */
function checkArguments(args: readonly ShellWord[], where: PathContext, findings: Findings): void {
  for (const word of args) {
    if (word.expands) {
      findings.outside(`uses a shell variable, which may point outside the workspace: ${shown(word.text)}`);
      continue;
    }
    for (const candidate of pathCandidates(word)) {
      const outside = outsidePath(candidate, where);
      if (outside !== undefined) {
        findings.outside(`touches a path outside the workspace: ${shown(outside)}`);
        break;
      }
    }
  }
}

/** Where `ls` and friends may live and still be what their name says; `./ls` is anyone's script. */
const SYSTEM_BIN_DIRS = new Set([
  '/bin',
  '/usr/bin',
  '/usr/local/bin',
  '/sbin',
  '/usr/sbin',
  '/usr/local/sbin',
  '/opt/homebrew/bin',
]);

function systemProgram(text: string): string | undefined {
  if (!text.includes('/')) return text;
  return SYSTEM_BIN_DIRS.has(dirname(text)) ? basename(text) : undefined;
}

const always = (): boolean => true;
const positional = (args: readonly string[]): string[] => args.filter((a) => !a.startsWith('-'));

const FIND_ACTIONS_THAT_WRITE = new Set(['-exec', '-execdir', '-delete', '-ok', '-okdir', '-fls']);
const GIT_BRANCH_LIST_FLAGS = new Set([
  '-a',
  '-r',
  '-v',
  '-vv',
  '-l',
  '--list',
  '--all',
  '--remotes',
  '--verbose',
  '--show-current',
  '--no-color',
]);
const GIT_READ_SUBCOMMANDS = new Set([
  'status',
  'log',
  'diff',
  'show',
  'rev-parse',
  'ls-files',
  'ls-tree',
  'blame',
  'describe',
  'shortlog',
  'cat-file',
  'grep',
]);
/** Options of read subcommands that write a file or run a program. */
const GIT_WRITING_OPTIONS = /^(--output|--ext-diff|--open-files-in-pager|-O)/;

function gitReadOnly(args: readonly string[]): boolean {
  // `-c`, `--git-dir`, `--work-tree`, `-C`…: what runs, or where, is no longer what it looks like.
  const start = args[0] === '--no-pager' ? 1 : 0;
  const sub = args[start];
  const rest = args.slice(start + 1);
  if (sub === undefined || sub.startsWith('-')) return false;
  if (rest.some((a) => GIT_WRITING_OPTIONS.test(a))) return false;
  if (GIT_READ_SUBCOMMANDS.has(sub)) return true;
  switch (sub) {
    case 'branch':
      return rest.every((a) => GIT_BRANCH_LIST_FLAGS.has(a));
    case 'remote':
      return rest.every((a) => a === '-v' || a === '--verbose');
    case 'tag':
      return rest.every((a) => a === '-l' || a === '--list' || /^-n\d*$/.test(a));
    case 'stash':
      return rest[0] === 'list';
    default:
      return false;
  }
}

/** Programs that only read, with the arguments under which that stays true. */
/** Maps, not object literals: a program named `constructor` or `valueOf` must find nothing. */
const READ_ONLY = new Map<string, (args: readonly string[]) => boolean>(
  Object.entries({
    ls: always,
    cat: always,
    head: always,
    tail: always,
    wc: always,
    pwd: always,
    echo: always,
    printf: always,
    which: always,
    type: always,
    stat: always,
    du: always,
    df: always,
    diff: always,
    cmp: always,
    cut: always,
    tr: always,
    basename: always,
    dirname: always,
    realpath: always,
    readlink: always,
    whoami: always,
    uname: always,
    id: always,
    true: always,
    false: always,
    nl: always,
    grep: always,
    egrep: always,
    fgrep: always,
    jq: always,
    od: always,
    hexdump: always,
    strings: always,
    column: always,
    seq: always,
    ps: always,
    printenv: always,
    md5sum: always,
    sha1sum: always,
    sha256sum: always,
    shasum: always,
    test: always,
    '[': always,
    file: (a) => !a.some((x) => x === '-C' || x === '--compile'),
    tree: (a) => !a.some((x) => x.startsWith('-o')),
    find: (a) => !a.some((x) => FIND_ACTIONS_THAT_WRITE.has(x) || x.startsWith('-fprint')),
    rg: (a) => !a.some((x) => x.startsWith('--pre')),
    sort: (a) =>
      !a.some((x) => /^-[A-Za-z]*o/.test(x) || x.startsWith('--output') || x.startsWith('--compress')),
    // `uniq IN OUT` writes OUT.
    uniq: (a) => positional(a).length <= 1,
    // `date MMDDhhmm` and `date -s` set the clock.
    date: (a) => a.every((x) => x.startsWith('+') || ['-u', '--utc', '-R'].includes(x) || x.startsWith('-I')),
    hostname: (a) => a.length === 0,
    env: (a) => a.length === 0,
    git: gitReadOnly,
    npm: (a) => a[0] !== undefined && ['ls', 'list', 'view', 'info', 'outdated', 'explain'].includes(a[0]),
  }),
);

const NETWORK_PROGRAMS = new Set([
  'curl',
  'wget',
  'ssh',
  'scp',
  'sftp',
  'rsync',
  'nc',
  'ncat',
  'netcat',
  'telnet',
  'ftp',
]);

/** Subcommands that fetch or publish, per tool. */
const NETWORK_SUBCOMMANDS = new Map<string, ReadonlySet<string>>(
  Object.entries({
    git: new Set(['push', 'fetch', 'pull', 'clone', 'ls-remote']),
    npm: new Set(['install', 'i', 'ci', 'add', 'update', 'up', 'upgrade', 'publish']),
    pnpm: new Set(['install', 'i', 'add', 'update', 'up', 'publish', 'dlx']),
    yarn: new Set(['install', 'add', 'upgrade', 'up', 'publish', 'dlx']),
    bun: new Set(['install', 'i', 'add', 'update', 'publish']),
    pip: new Set(['install', 'download']),
    pip3: new Set(['install', 'download']),
    cargo: new Set(['install', 'publish']),
    go: new Set(['get', 'install']),
    gem: new Set(['install']),
    brew: new Set(['install', 'upgrade']),
    'apt-get': new Set(['install', 'update']),
    apt: new Set(['install', 'update']),
    docker: new Set(['pull', 'push', 'login']),
  }),
);

const ROOT_PROGRAMS = new Set(['sudo', 'doas', 'su', 'pkexec']);

/** Run a command given in their arguments, so their name says nothing about what runs. */
const COMMAND_RUNNERS = new Set([
  'env',
  'xargs',
  'nohup',
  'time',
  'timeout',
  'nice',
  'ionice',
  'exec',
  'eval',
  'command',
  'builtin',
  'source',
  '.',
  'watch',
  'stdbuf',
  'setsid',
  'chroot',
  'strace',
  'ltrace',
  'flock',
  'parallel',
  // Can run one through an option: find -exec, rg --pre, sort --compress-program, tar -I, sed e.
  'find',
  'rg',
  'sort',
  'tar',
  'sed',
  'awk',
  'gawk',
]);

/** A rule names one of their subcommands, never the whole tool. */
const MULTI_COMMAND_TOOLS = new Set([
  'git',
  'npm',
  'npx',
  'pnpm',
  'yarn',
  'bun',
  'deno',
  'cargo',
  'go',
  'make',
  'docker',
  'kubectl',
  'pip',
  'pip3',
  'uv',
  'poetry',
  'gradle',
  'mvn',
  'dotnet',
  'brew',
]);

/** Subcommands that run a further program or script: a rule names that one too (`npm run test`). */
const RUNNER_SUBCOMMANDS = new Set(['run', 'run-script', 'exec', 'x', 'dlx']);
const RUNNER_TOOLS = new Set(['npm', 'pnpm', 'yarn', 'bun', 'uv', 'poetry', 'deno']);

/** Run code given inline (`-c`, `-e`) or from a script: a rule names the script. */
const INTERPRETERS = new Set([
  'python',
  'python3',
  'python2',
  'node',
  'ruby',
  'perl',
  'php',
  'lua',
  'bash',
  'sh',
  'zsh',
  'dash',
  'fish',
  'ksh',
]);

const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;

/** What a simple command's program does that deserves a word on the card. */
const PROGRAM_HINTS = new Map<string, [RiskClass, string]>(
  Object.entries({
    rm: ['write', 'deletes files'],
    rmdir: ['write', 'deletes files'],
    unlink: ['write', 'deletes files'],
    shred: ['write', 'deletes files'],
    chmod: ['write', 'changes file permissions'],
    chown: ['write', 'changes file owners'],
    chgrp: ['write', 'changes file owners'],
    dd: ['write', 'writes raw data to files or devices'],
    kill: ['write', 'stops processes'],
    pkill: ['write', 'stops processes'],
    killall: ['write', 'stops processes'],
  }),
);

function gitSubcommand(args: readonly ShellWord[]): { sub?: string; globalOptions: boolean } {
  const withValue = new Set(['-C', '-c', '--git-dir', '--work-tree', '--namespace', '--config-env']);
  let globalOptions = false;
  for (let k = 0; k < args.length; k++) {
    const text = args[k]!.text;
    if (!text.startsWith('-')) return { sub: text, globalOptions };
    if (text !== '--no-pager') globalOptions = true;
    if (withValue.has(text)) k++;
  }
  return { globalOptions };
}

/** One simple command: raises `findings`; a `cd` moves where later commands may be. */
function classifySimple(words: readonly ShellWord[], where: PathContext, findings: Findings): void {
  let start = 0;
  while (start < words.length && ASSIGNMENT.test(words[start]!.text)) start++;
  if (start > 0) {
    findings.noRule = true;
    findings.raise('write', 'sets environment variables');
    checkArguments(words.slice(0, start), where, findings);
  }
  const program = words[start];
  if (!program) return;
  const args = words.slice(start + 1);
  const texts = args.map((a) => a.text);
  if (program.expands) {
    findings.noRule = true;
    findings.raise('write', 'runs a program named by a variable');
    checkArguments(args, where, findings);
    return;
  }
  const name = basename(program.text);

  if (name === 'cd' || name === 'pushd') {
    const target = args[0];
    if (!target || target.expands || target.text === '-' || target.text.startsWith('~')) {
      findings.outside(`changes directory outside the workspace: ${target ? shown(target.text) : '~'}`);
      return;
    }
    const next = where.cwds.map((cwd) => resolve(cwd, target.text));
    if (next.some((dir) => !isInside(dir, where.workspace))) {
      findings.outside(`changes directory outside the workspace: ${shown(target.text)}`);
    }
    where.cwds = [...new Set([...where.cwds, ...next])];
    return;
  }
  if (ROOT_PROGRAMS.has(name)) {
    findings.noRule = true;
    findings.raise('dangerous', 'runs as root');
    checkArguments(args, where, findings);
    return;
  }

  const system = systemProgram(program.text);
  const readOnly = system !== undefined ? READ_ONLY.get(system) : undefined;
  if (readOnly?.(texts)) return;

  if (COMMAND_RUNNERS.has(name)) findings.noRule = true;
  if (NETWORK_PROGRAMS.has(name)) findings.raise('dangerous', 'uses the network');
  const hint = PROGRAM_HINTS.get(name);
  if (hint) findings.raise(hint[0], hint[1]);

  let sub = texts.find((t) => !t.startsWith('-'));
  if (name === 'git') {
    const git = gitSubcommand(args);
    sub = git.sub;
    if (git.globalOptions) findings.raise('write', 'overrides git options');
    if (sub === 'clean') findings.raise('write', 'deletes files');
    if (sub === 'remote' && texts.includes('update')) findings.raise('dangerous', 'uses the network');
  }
  if (INTERPRETERS.has(name) && texts[0] === '-m' && (texts[1] === 'pip' || texts[1] === 'pip3')) {
    sub = texts[2];
    if (sub !== undefined && NETWORK_SUBCOMMANDS.get('pip')!.has(sub))
      findings.raise('dangerous', 'uses the network');
  }
  if (name === 'find' && texts.includes('-delete')) findings.raise('write', 'deletes files');
  if (sub !== undefined && NETWORK_SUBCOMMANDS.get(name)?.has(sub))
    findings.raise('dangerous', 'uses the network');
  if (name === 'yarn' && args.length === 0) findings.raise('dangerous', 'uses the network');

  findings.raise('write');
  checkArguments(args, where, findings);
}

/** The words a rule would store for this simple command, or undefined when none may be made. */
function rulePrefix(words: readonly ShellWord[]): string[] | undefined {
  const [program, ...args] = words;
  if (!program || program.expands || ASSIGNMENT.test(program.text)) return undefined;
  const name = basename(program.text);
  if (ROOT_PROGRAMS.has(name) || COMMAND_RUNNERS.has(name)) return undefined;
  const word = (k: number): string | undefined => {
    const w = args[k];
    return w && !w.expands && !w.text.startsWith('-') && w.text !== '' ? w.text : undefined;
  };
  if (MULTI_COMMAND_TOOLS.has(name)) {
    const sub = word(0);
    if (sub === undefined) return undefined;
    if (!RUNNER_TOOLS.has(name) || !RUNNER_SUBCOMMANDS.has(sub)) return [program.text, sub];
    const target = word(1);
    return target === undefined ? undefined : [program.text, sub, target];
  }
  if (INTERPRETERS.has(name)) {
    if (args[0]?.text === '-m') {
      const module = word(1);
      return module === undefined ? undefined : [program.text, '-m', module];
    }
    const script = word(0);
    return script === undefined ? undefined : [program.text, script];
  }
  return [program.text];
}

/** Everything known about a request: its classification and whether a rule may cover it. */
function assess(
  request: ApprovalRequest,
  context: ApprovalContext,
): { classification: ApprovalClassification; words?: string[]; reachesOutside: boolean } {
  const workspace = resolve(context.workspace);
  const cwd = resolve(workspace, request.cwd);
  const findings = new Findings();

  if (request.kind === 'permissions') {
    findings.noRule = true;
    findings.raise('dangerous', request.network ? 'asks for network access' : 'asks for extra permissions');
  }
  if (request.network) findings.raise('dangerous', 'asks for network access');
  if (request.outsideSandbox) findings.raise('dangerous', 'runs outside the sandbox');
  if (!isInside(cwd, workspace)) findings.outside(`runs outside the workspace: ${shown(cwd)}`);
  if (context.sandbox === 'danger-full-access') findings.raise('dangerous', 'full access: no sandbox');

  let words: ShellWord[] | undefined;
  if (request.kind === 'file_change') {
    findings.noRule = true;
    classifyFileChange(request.changes ?? [], cwd, workspace, findings);
  } else if (request.kind === 'command') {
    const shape = commandShape(request);
    const where: PathContext = { workspace, cwds: [cwd] };
    if (shape.kind === 'unreadable') {
      findings.noRule = true;
      findings.raise('write', shape.why);
    } else if (shape.kind === 'simple') {
      words = shape.words;
      classifySimple(shape.words, where, findings);
    } else {
      findings.noRule = true;
      classifyComplex(shape.scan, where, findings);
    }
  }

  const alwaysPrefix = words && !findings.noRule && !findings.reachesOutside ? rulePrefix(words) : undefined;
  const classification: ApprovalClassification = { risk: findings.risk, hints: findings.hints() };
  if (alwaysPrefix) classification.alwaysPrefix = alwaysPrefix;
  return { classification, words: words?.map((w) => w.text), reachesOutside: findings.reachesOutside };
}

function classifyFileChange(
  changes: NonNullable<ApprovalRequest['changes']>,
  cwd: string,
  workspace: string,
  findings: Findings,
): void {
  const outside = changes.map((c) => c.path).filter((p) => !isInside(resolve(cwd, p), workspace));
  if (outside.length > 0) {
    const more = outside.length > 3 ? ` and ${outside.length - 3} more` : '';
    findings.outside(`writes outside the workspace: ${outside.slice(0, 3).map(shown).join(', ')}${more}`);
  }
  findings.raise(
    'write',
    changes.length === 0
      ? 'changes files (none listed)'
      : `changes ${changes.length} ${changes.length === 1 ? 'file' : 'files'}`,
  );
  if (changes.some((c) => c.change === 'delete')) findings.raise('write', 'deletes files');
}

function classifyComplex(scan: ShellScan, where: PathContext, findings: Findings): void {
  if (scan.compound) findings.raise('write', 'compound command (&&, |, ;)');
  if (scan.substitution) findings.raise('write', 'runs nested commands ($(…) or `…`)');
  if (scan.redirects.some((r) => r.direction === 'out')) findings.raise('write', 'redirects output');
  if (scan.redirects.some((r) => r.direction === 'in')) findings.raise('write', 'redirects input');
  for (const segment of scan.segments) classifySimple(segment, where, findings);
  for (const { direction, target } of scan.redirects) {
    if (direction !== 'out' || !target) continue;
    if (target.expands) {
      findings.outside(`writes to a file named by a variable: ${shown(target.text)}`);
      continue;
    }
    const outside = outsidePath(target.text, where);
    if (outside !== undefined) findings.outside(`writes outside the workspace: ${shown(outside)}`);
  }
}

/** How risky a request is, why, and which words an "Always allow here" rule would store. */
export function classifyApproval(request: ApprovalRequest, context: ApprovalContext): ApprovalClassification {
  return assess(request, context).classification;
}

// ---------------------------------------------------------------------------------------------
// Planning and deciding

const LEVEL_RANK: Record<ApproverLevel, number> = { auto: 0, requester: 1, admin: 2, owner: 3 };

/**
 * Auto-approve, or who must click. A stored prefix auto-approves only a request that could itself
 * have made a rule: one simple command, inside the workspace, no sudo or wrapper — so `['rm']`
 * never covers `rm -rf /etc` nor `ls && rm x`.
 */
export function planApproval(request: ApprovalRequest, context: PlanContext): ApprovalPlan {
  const { classification, words } = assess(request, context);
  if (classification.alwaysPrefix && words) {
    const matching = context.allowPrefixes
      .filter((prefix) => matchesPrefix(words, prefix))
      .sort((a, b) => b.length - a.length)[0];
    if (matching) {
      return {
        kind: 'auto',
        note: `auto-approved: always allowed here (${matching.join(' ')})`,
        classification,
      };
    }
  }
  const risk = classification.risk;
  let level: ApproverLevel = context.rules[risk];
  // Whatever a workspace override says, dangerous requests are never below an admin.
  if (risk === 'dangerous') {
    const floor: ApproverLevel = context.rules.dangerous === 'owner' ? 'owner' : 'admin';
    if (LEVEL_RANK[level] < LEVEL_RANK[floor]) level = floor;
  }
  if (level === 'auto') {
    const why = risk === 'read' ? 'read-only command' : 'this workspace allows changes without asking';
    return { kind: 'auto', note: `auto-approved: ${why}`, classification };
  }
  return {
    kind: 'ask',
    approvers: level,
    twoPerson: context.inGroup && context.twoPersonInGroups && risk === 'dangerous',
    classification,
  };
}

/** Whether this person may approve this request; the reason is a toast for them. */
export function mayDecide(
  plan: Extract<ApprovalPlan, { kind: 'ask' }>,
  who: { operatorId: string; operatorRole: 'owner' | 'admin' | 'user' | undefined; requesterId: string },
): { ok: true } | { ok: false; reason: string } {
  const admin = who.operatorRole === 'owner' || who.operatorRole === 'admin';
  const why = plan.classification.hints[0];
  const because = why ? `: ${why}.` : '.';
  switch (plan.approvers) {
    case 'requester':
      if (who.operatorId !== who.requesterId && !admin) {
        return { ok: false, reason: 'Only the person who asked or an admin can approve this.' };
      }
      break;
    case 'admin':
      if (!admin) return { ok: false, reason: `Only an admin can approve this${because}` };
      break;
    case 'owner':
      if (who.operatorRole !== 'owner')
        return { ok: false, reason: `Only the owner can approve this${because}` };
      break;
  }
  if (plan.twoPerson && who.operatorId === who.requesterId) {
    return { ok: false, reason: 'Two-person rule: someone other than the requester must approve this.' };
  }
  return { ok: true };
}
