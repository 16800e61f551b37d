// What the REST handlers need from the emulator, kept as an interface to avoid import cycles.
import type { Reply } from './http.js';
import type { EmulatorState } from './state.js';
import type { LimitViolationKind, StoredMessage } from './types.js';

export interface EmulatorCore {
  readonly state: EmulatorState;
  readonly url: string;
  readonly appId: string;
  readonly appSecret: string;
  readonly botOpenId: string;
  readonly botName: string;
  readonly enforceLimits: boolean;
  readonly streamingTimeoutMs: number;
  /** The WS ClientConfig (seconds) sent at discovery and in every pong. */
  readonly clientConfig: object;
  issueWsUrl(): string;
  /** Called after the bot created a message (create / reply), e.g. to echo it back. */
  onBotMessage(message: StoredMessage): void;
}

/**
 * Records a limit violation and returns the Feishu error reply, or undefined when limits are not
 * enforced (the request then proceeds as if it were allowed).
 */
export function breach(
  core: EmulatorCore,
  kind: LimitViolationKind,
  detail: string,
  path: string,
  reply: Reply,
): Reply | undefined {
  core.state.violation(kind, detail, path);
  return core.enforceLimits ? reply : undefined;
}
