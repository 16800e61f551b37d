/**
 * Control commands that act on a scope's run, recognised before anything reaches
 * the agent. Other `/x` text goes to the agent as it is (the agent may have its own).
 */
export type ParsedInput =
  | { kind: 'text'; text: string }
  | { kind: 'stop' }
  | { kind: 'steer'; text: string }
  | { kind: 'new'; prompt?: string }
  | { kind: 'timeout'; seconds?: number }
  | { kind: 'invalid'; reply: string };

export const MIN_IDLE_TIMEOUT_S = 10;
export const MAX_IDLE_TIMEOUT_S = 24 * 60 * 60;

export function parseInput(raw: string): ParsedInput {
  const text = raw.trim();
  if (text.startsWith('!') && text.length > 1) {
    return { kind: 'steer', text: text.slice(1).trim() };
  }
  const match = /^\/(\w+)(?:\s+([\s\S]*))?$/.exec(text);
  if (!match) return { kind: 'text', text: raw };
  const name = match[1]!.toLowerCase();
  const args = match[2]?.trim() ?? '';
  switch (name) {
    case 'stop':
      return { kind: 'stop' };
    case 'new':
      return args ? { kind: 'new', prompt: args } : { kind: 'new' };
    case 'timeout': {
      if (!args) return { kind: 'timeout' };
      const seconds = Number(args);
      if (!Number.isInteger(seconds) || seconds < MIN_IDLE_TIMEOUT_S || seconds > MAX_IDLE_TIMEOUT_S) {
        return {
          kind: 'invalid',
          reply: `/timeout takes whole seconds from ${MIN_IDLE_TIMEOUT_S} to ${MAX_IDLE_TIMEOUT_S}, e.g. /timeout 900. Got "${args}".`,
        };
      }
      return { kind: 'timeout', seconds };
    }
    default:
      return { kind: 'text', text: raw };
  }
}
