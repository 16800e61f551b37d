import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, isAbsolute } from 'node:path';
import { z } from 'zod';
import { LarkcodeError } from '../core/errors.js';
import { matchesPrefix } from '../policy/approval-rules.js';
import { quarantineFile, readStateFile, writeStateFile } from './json-state-file.js';

const ruleSchema = z.strictObject({
  id: z.string().regex(/^[0-9a-f]{8}$/, { message: 'rule ids are 8 hex digits' }),
  /** The command words the rule allows, e.g. ['npm', 'test']; never empty (that would allow everything). */
  prefix: z.array(z.string().min(1)).min(1).max(16),
  addedBy: z.string(),
  addedAt: z.number().int().nonnegative(),
});

/** `<stateDir>/approval-allowlist.json` (the caller names it). Strict: people may edit this file. */
export const approvalAllowlistFileSchema = z.strictObject({
  version: z.literal(1),
  workspaces: z.record(
    z.string().refine(isAbsolute, { message: 'workspace keys must be absolute paths' }),
    z.array(ruleSchema),
  ),
});

export type AllowRule = z.infer<typeof ruleSchema>;

export interface ApprovalAllowlistOptions {
  /** Told when a corrupt file was set aside at open (the list then starts empty). */
  onCorrupt?: (info: { path: string; movedTo: string | undefined; problem: string }) => void;
}

/**
 * "Always allow here" rules: per workspace, command prefixes the approval rules engine
 * auto-approves. Rewritten atomically, fsynced, mode 0600, on every change.
 *
 * A corrupt file is set aside (`<file>.corrupt`, see `quarantineFile`) and the list starts empty:
 * losing these rules only means people are asked again, which is safe, whereas refusing to start
 * would stop every chat. The copy keeps what was there for whoever wants to restore it.
 *
 * Workspace keys are stored as given: callers pass the resolved real path. Single writer: one
 * instance per file. All methods are synchronous.
 */
export class ApprovalAllowlist {
  readonly #path: string;
  #workspaces: Map<string, AllowRule[]>;

  constructor(path: string, options: ApprovalAllowlistOptions = {}) {
    this.#path = path;
    const read = readStateFile(path, approvalAllowlistFileSchema);
    if (read.kind === 'corrupt') {
      const movedTo = quarantineFile(path);
      options.onCorrupt?.({ path, movedTo, problem: read.problem });
    }
    this.#workspaces = new Map(read.kind === 'ok' ? Object.entries(read.value.workspaces) : []);
  }

  /** The rules of one workspace, in the order they were added. */
  list(workspace: string): AllowRule[] {
    return (this.#workspaces.get(workspace) ?? []).map(copyRule);
  }

  /** Every workspace that has rules, sorted by path. */
  listAll(): { workspace: string; rules: AllowRule[] }[] {
    return [...this.#workspaces.keys()].sort(byText).map((workspace) => ({
      workspace,
      rules: this.list(workspace),
    }));
  }

  /** The prefixes `planApproval` takes as `allowPrefixes`. */
  prefixes(workspace: string): string[][] {
    return (this.#workspaces.get(workspace) ?? []).map((rule) => [...rule.prefix]);
  }

  /**
   * Allow `prefix` in `workspace` from now on. A prefix already there returns the existing rule
   * unchanged (who added it first stays on record). Throws a LarkcodeError for an empty prefix.
   */
  add(workspace: string, prefix: readonly string[], addedBy: string, now: number = Date.now()): AllowRule {
    if (!isAbsolute(workspace)) {
      throw new LarkcodeError('internal', `allow rules need an absolute workspace path: ${workspace}`);
    }
    const rules = this.#workspaces.get(workspace) ?? [];
    const existing = rules.find((rule) => samePrefix(rule.prefix, prefix));
    if (existing) return copyRule(existing);
    const parsed = ruleSchema.safeParse({ id: this.#newId(), prefix: [...prefix], addedBy, addedAt: now });
    if (!parsed.success) {
      throw new LarkcodeError('internal', `not a valid allow rule: ${z.prettifyError(parsed.error)}`);
    }
    this.#commit(new Map(this.#workspaces).set(workspace, [...rules, parsed.data]));
    return copyRule(parsed.data);
  }

  /** Remove rule `id` from `workspace`; false when it has no such rule. */
  remove(workspace: string, id: string): boolean {
    const rules = this.#workspaces.get(workspace) ?? [];
    const kept = rules.filter((rule) => rule.id !== id);
    if (kept.length === rules.length) return false;
    const next = new Map(this.#workspaces);
    if (kept.length === 0) next.delete(workspace);
    else next.set(workspace, kept);
    this.#commit(next);
    return true;
  }

  /** Unique over the whole file, so an id in a card's button can never name another rule. */
  #newId(): string {
    const taken = new Set([...this.#workspaces.values()].flat().map((rule) => rule.id));
    for (;;) {
      const id = randomBytes(4).toString('hex');
      if (!taken.has(id)) return id;
    }
  }

  /** Memory changes only once the file is on disk, so a failed write changes nothing. */
  #commit(next: Map<string, AllowRule[]>): void {
    mkdirSync(dirname(this.#path), { recursive: true, mode: 0o700 });
    const sorted = [...next].sort(([a], [b]) => byText(a, b));
    writeStateFile(this.#path, {
      version: 1,
      workspaces: Object.fromEntries(sorted),
    } satisfies z.input<typeof approvalAllowlistFileSchema>);
    this.#workspaces = next;
  }
}

function samePrefix(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && matchesPrefix(a, b);
}

function copyRule(rule: AllowRule): AllowRule {
  return { ...rule, prefix: [...rule.prefix] };
}

function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
