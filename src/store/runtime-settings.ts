import { join } from 'node:path';
import { z } from 'zod';
import { accessModes } from '../config/schema.js';
import { LarkcodeError } from '../core/errors.js';
import { readJsonSync, writeFileAtomicSync } from './atomic-file.js';

/**
 * Core settings changed from chat with /config, over the config file's values: they survive a
 * restart, and config.json stays the user's own file (never rewritten by the daemon).
 */
export const runtimeSettingsSchema = z.strictObject({
  debounceMs: z.number().int().min(0).max(60_000).optional(),
  idleTimeoutSec: z.number().int().min(10).max(86_400).optional(),
  showReasoning: z.boolean().optional(),
  defaultAccess: z.enum(accessModes).optional(),
  requireMention: z.boolean().optional(),
  /** Per group chat: answer only when mentioned (overrides `requireMention`). */
  groups: z.record(z.string().regex(/^oc_\w+$/), z.strictObject({ requireMention: z.boolean() })).optional(),
  /** Per chat: a message during a run steers it or waits for the next run (overrides `runs.midRunMessages`). */
  chats: z
    .record(z.string().regex(/^oc_\w+$/), z.strictObject({ midRunMessages: z.enum(['steer', 'queue']) }))
    .optional(),
});

export type RuntimeSettings = z.infer<typeof runtimeSettingsSchema>;

export class RuntimeSettingsStore {
  #settings: RuntimeSettings;

  private constructor(
    private readonly path: string,
    settings: RuntimeSettings,
  ) {
    this.#settings = settings;
  }

  static open(stateDir: string): RuntimeSettingsStore {
    const path = join(stateDir, 'settings.json');
    const raw = readJsonSync(path);
    if (raw === undefined) return new RuntimeSettingsStore(path, {});
    const parsed = runtimeSettingsSchema.safeParse(raw);
    if (!parsed.success) {
      throw new LarkcodeError(
        'config',
        `${path} is not valid (${z.prettifyError(parsed.error)}); fix or delete it`,
      );
    }
    return new RuntimeSettingsStore(path, parsed.data);
  }

  get(): RuntimeSettings {
    return this.#settings;
  }

  /** Apply a change and write it atomically before anyone sees it. */
  update(change: (current: RuntimeSettings) => RuntimeSettings): RuntimeSettings {
    const next = runtimeSettingsSchema.parse(change(this.#settings));
    writeFileAtomicSync(this.path, `${JSON.stringify(next, null, 2)}\n`);
    this.#settings = next;
    return next;
  }
}
