import { mkdirSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { LarkcodeError } from '../core/errors.js';
import { validateWorkspace } from '../policy/workspace.js';
import { readStateFile, writeStateFile } from './json-state-file.js';

const FILE = 'workspaces.json';

/** Short enough to type on a phone, safe in a path or a card, no look-alike case variants. */
export const ALIAS_PATTERN = /^[a-z0-9][a-z0-9_-]{0,31}$/;

const aliasName = z.string().regex(ALIAS_PATTERN, { message: 'alias names are a-z 0-9 _ -, up to 32' });
const absolutePath = z.string().refine(isAbsolute, { message: 'must be an absolute path' });

/** `<stateDir>/workspaces.json`. Strict: people edit this file, and a typo must not vanish silently. */
export const workspacesFileSchema = z.strictObject({ aliases: z.record(aliasName, absolutePath) });

export interface WorkspaceAlias {
  alias: string;
  path: string;
}

export interface WorkspaceAliasesOptions {
  /**
   * Turns a path into the real path to store, or throws a LarkcodeError saying why not. Default:
   * `validateWorkspace` (exists, is a directory, not too broad), so no alias on disk ever names
   * `/` or a home directory. The command layer must still re-check at use: the directory can
   * change after it was added.
   */
  resolvePath?: (path: string) => string;
}

/**
 * Named workspaces (`/cd api` instead of a path), in `<stateDir>/workspaces.json`, rewritten
 * atomically and fsynced on every change.
 *
 * A corrupt file stops `open` with a LarkcodeError naming the file and the problem: people made
 * these aliases, so they are never dropped silently (the next write would destroy them).
 *
 * Single writer: one instance per state directory. All methods are synchronous.
 */
export class WorkspaceAliases {
  readonly #path: string;
  readonly #resolvePath: (path: string) => string;
  #aliases: Map<string, string>;

  private constructor(path: string, aliases: Map<string, string>, resolvePath: (path: string) => string) {
    this.#path = path;
    this.#aliases = aliases;
    this.#resolvePath = resolvePath;
  }

  static open(stateDir: string, options: WorkspaceAliasesOptions = {}): WorkspaceAliases {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const path = join(stateDir, FILE);
    const read = readStateFile(path, workspacesFileSchema);
    if (read.kind === 'corrupt') {
      throw new LarkcodeError(
        'config',
        `workspace alias file ${path} is corrupt:\n${read.problem}\nfix it, or delete it to forget every alias`,
      );
    }
    const aliases = new Map(read.kind === 'ok' ? Object.entries(read.value.aliases) : []);
    return new WorkspaceAliases(path, aliases, options.resolvePath ?? ((p) => validateWorkspace(p)));
  }

  /** Every alias, sorted by name. */
  list(): WorkspaceAlias[] {
    return [...this.#aliases]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([alias, path]) => ({ alias, path }));
  }

  /** The path of an alias (any case), or undefined. */
  get(alias: string): string | undefined {
    return this.#aliases.get(alias.trim().toLowerCase());
  }

  /**
   * Add `alias` (stored lower-case) for the real path of `path`; returns what was stored. An
   * existing alias is refused unless `replace` — a slip of the thumb must not re-point a name
   * others rely on.
   */
  add(alias: string, path: string, options: { replace?: boolean } = {}): WorkspaceAlias {
    const name = normalizeAlias(alias);
    const existing = this.#aliases.get(name);
    if (existing !== undefined && !options.replace) {
      throw new LarkcodeError(
        'workspace',
        `alias "${name}" already points to ${existing}; remove it first or replace it`,
      );
    }
    const real = this.#resolvePath(path);
    if (!isAbsolute(real)) {
      throw new LarkcodeError('internal', `workspace resolver returned a relative path: ${real}`);
    }
    if (existing !== real) this.#commit(new Map(this.#aliases).set(name, real));
    return { alias: name, path: real };
  }

  /** Remove an alias (any case); false when there was none. */
  remove(alias: string): boolean {
    const name = alias.trim().toLowerCase();
    if (!this.#aliases.has(name)) return false;
    const next = new Map(this.#aliases);
    next.delete(name);
    this.#commit(next);
    return true;
  }

  /** Memory changes only once the file is on disk, so a failed write changes nothing. */
  #commit(next: Map<string, string>): void {
    const sorted = [...next].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    writeStateFile(this.#path, { aliases: Object.fromEntries(sorted) } satisfies z.input<
      typeof workspacesFileSchema
    >);
    this.#aliases = next;
  }
}

/** Lower-cased alias name, or a LarkcodeError that says what a valid name looks like. */
export function normalizeAlias(alias: string): string {
  const name = alias.trim().toLowerCase();
  if (!ALIAS_PATTERN.test(name)) {
    throw new LarkcodeError(
      'workspace',
      `"${alias.slice(0, 40)}" is not a valid alias: use 1–32 letters, digits, "_" or "-", ` +
        `starting with a letter or digit`,
    );
  }
  return name;
}
