import type { MessageInput } from '../src/core/bridge-input.js';

/**
 * The text an agent receives for a batch of messages. Several messages that
 * arrived together are kept in arrival order, one paragraph each.
 */
export function buildPrompt(inputs: readonly MessageInput[]): string {
  return inputs
    .map((input) => input.text.trim())
    .filter((text) => text.length > 0)
    .join('\n\n');
}
