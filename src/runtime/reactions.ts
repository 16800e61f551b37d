import type { Logger } from 'pino';
import type { RunOutcome } from '../agents/types.js';
import type { FeishuPort } from '../feishu/port.js';

/** Feishu emoji types (emoji_type) shown on the user's message. */
export const REACTION = {
  working: 'OnIt',
  completed: 'DONE',
  failed: 'CrossMark',
  timeout: 'Alarm',
  interrupted: 'No',
} as const satisfies Record<'working' | RunOutcome, string>;

const REMEMBERED_MESSAGES = 5000;

/**
 * The quickest signal a message was taken: a reaction on it at once, swapped for the run's
 * outcome when its run ends. Best effort — a reaction that fails never affects a run.
 */
export class RunReactions {
  /** The reaction we currently show on each message (its add may still be in flight). */
  readonly #current = new Map<string, Promise<string | undefined>>();

  constructor(
    private readonly feishu: Pick<FeishuPort, 'addReaction' | 'removeReaction'>,
    private readonly logger: Logger,
  ) {}

  acknowledge(messageId: string): void {
    if (this.#current.has(messageId)) return;
    this.#remember(messageId, this.#add(messageId, REACTION.working));
  }

  /** Replace whatever a run's messages show with the outcome. */
  settle(messageIds: readonly string[], outcome: RunOutcome): void {
    for (const messageId of new Set(messageIds)) {
      const previous = this.#current.get(messageId);
      const next = (async () => {
        const shown = await previous;
        if (shown) {
          await this.feishu
            .removeReaction(messageId, shown)
            .catch((error: unknown) => this.logger.debug({ err: error, messageId }, 'reaction not removed'));
        }
        return this.#add(messageId, REACTION[outcome]);
      })();
      this.#remember(messageId, next);
    }
  }

  /** Wait for reactions in flight (shutdown). */
  async settled(): Promise<void> {
    await Promise.allSettled(this.#current.values());
  }

  async #add(messageId: string, emoji: string): Promise<string | undefined> {
    try {
      return await this.feishu.addReaction(messageId, emoji);
    } catch (error) {
      this.logger.debug({ err: error, messageId, emoji }, 'reaction not added');
      return undefined;
    }
  }

  #remember(messageId: string, reaction: Promise<string | undefined>): void {
    this.#current.delete(messageId);
    this.#current.set(messageId, reaction);
    if (this.#current.size > REMEMBERED_MESSAGES) {
      const oldest = this.#current.keys().next().value as string;
      this.#current.delete(oldest);
    }
  }
}
