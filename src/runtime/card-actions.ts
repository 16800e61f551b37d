import type { Logger } from 'pino';
import { z } from 'zod';
import type { CallbackKeys } from '../security/callback-keys.js';
import { type CallbackToken, type VerifyFailure, verifyCallback } from '../security/callback-token.js';
import { INTERACTION_ACTIONS } from './interactions.js';

/** What Feishu shows the person who pressed a button: the callback's answer, sent in the ack. */
export interface CardActionAnswer {
  toast: { type: 'info' | 'success' | 'warning' | 'error'; content: string };
}

export interface CardActionDeps {
  keys: CallbackKeys;
  logger: Logger;
  now: () => number;
  /** May this user act on any run (owner or admin)? */
  isAdmin: (openId: string) => boolean;
  /** Record a nonce; false when it was seen before (a replayed click). Durable across restarts. */
  firstUseOfNonce: (nonce: string) => boolean;
  /** The fingerprint of the policy the scope runs under now. */
  currentPolicyFingerprint: (scopeId: string) => string;
  /** The run the scope is busy with (starting or running), if any. */
  activeRunId: (scopeId: string) => string | undefined;
  stopRun: (scopeId: string, runId: string, operatorOpenId: string) => void;
  /**
   * Approve / deny / always allow / answer: who may press is decided by the request's own
   * policy (the two-person rule lets someone other than the starter approve), single use too.
   */
  interact?: (token: CallbackToken, operatorOpenId: string) => CardActionAnswer;
  /** Apply a confirmed choice (resume a session, change the workspace); answers the toast. */
  configure: (token: CallbackToken, operatorOpenId: string) => CardActionAnswer;
  audit: (record: {
    actor: string;
    scopeId?: string;
    action: string;
    decision: 'allowed' | 'denied' | 'done';
    reason?: string;
  }) => void;
}

const cardActionEvent = z.object({
  operator: z.object({ open_id: z.string().min(1) }).passthrough(),
  action: z.object({ value: z.unknown() }).passthrough(),
  context: z
    .object({ open_chat_id: z.string().optional(), open_message_id: z.string().optional() })
    .partial()
    .optional(),
});

const REFUSED: Record<VerifyFailure, string> = {
  malformed: 'This button is not one larkcode can act on. Nothing was done.',
  unknown_key: 'This button was signed with a key that is no longer valid. Nothing was done.',
  forged: 'This button could not be verified. Nothing was done.',
  expired: 'This button has expired. Nothing was done.',
};

const POLICY_CHANGED = "This chat's workspace or access changed since the card was sent. Nothing was done.";
const INTERACTIONS = new Set<string>(INTERACTION_ACTIONS);

const refuse = (content: string): CardActionAnswer => ({ toast: { type: 'error', content } });

/**
 * Answers `card.action.trigger`. Runs inside the long connection's ack, so it only decides and
 * enqueues — Feishu shows the toast only if the answer comes within 3 s. Every button carries a
 * signed token: it is checked (signature, expiry, the card's chat, who pressed it, the scope's
 * policy, single use) before anything happens, and a refusal says why and changes nothing.
 */
export function createCardActionHandler(deps: CardActionDeps) {
  return function handleCardAction(raw: unknown): CardActionAnswer {
    const parsed = cardActionEvent.safeParse(raw);
    if (!parsed.success) {
      deps.logger.warn(
        { audit: 'card.action', decision: 'denied', reason: 'malformed event' },
        'card action refused',
      );
      return refuse(REFUSED.malformed);
    }
    const event = parsed.data;
    const operator = event.operator.open_id;
    const verified = verifyCallback(event.action.value, { keys: deps.keys, now: deps.now() });
    if (!verified.ok) return deny(operator, undefined, verified.reason, REFUSED[verified.reason]);
    const token = verified.token;
    const chatId = event.context?.open_chat_id;
    if (chatId && chatId !== token.chatId) return deny(operator, token, 'chat mismatch', REFUSED.forged);
    if (INTERACTIONS.has(token.action) && deps.interact) {
      if (deps.currentPolicyFingerprint(token.scopeId) !== token.policyFingerprint)
        return deny(operator, token, 'policy changed', POLICY_CHANGED);
      const answer = deps.interact(token, operator);
      audit(operator, token, answer.toast.type === 'error' ? 'denied' : 'allowed', answer.toast.content);
      return answer;
    }
    if (operator !== token.operatorOpenId && !deps.isAdmin(operator)) {
      return deny(
        operator,
        token,
        'not the run starter or an admin',
        'Only the person who started this run or an admin can do that.',
      );
    }
    if (deps.currentPolicyFingerprint(token.scopeId) !== token.policyFingerprint) {
      return deny(operator, token, 'policy changed', POLICY_CHANGED);
    }
    switch (token.action) {
      case 'stop':
        return stop(operator, token);
      case 'resume':
      case 'cd':
      case 'config':
        if (!deps.firstUseOfNonce(token.nonce))
          return deny(operator, token, 'replayed nonce', 'This button was already used.');
        return deps.configure(token, operator);
      default:
        return deny(operator, token, `unknown action ${token.action}`, REFUSED.malformed);
    }
  };

  function stop(operator: string, token: CallbackToken): CardActionAnswer {
    if (deps.activeRunId(token.scopeId) !== token.runId) {
      audit(operator, token, 'ignored', 'run already ended');
      return { toast: { type: 'info', content: 'This run has already ended.' } };
    }
    // Checked last: a refused click must not use up the button for the person allowed to press it.
    if (!deps.firstUseOfNonce(token.nonce))
      return deny(operator, token, 'replayed nonce', 'This button was already used.');
    deps.stopRun(token.scopeId, token.runId, operator);
    audit(operator, token, 'allowed', 'stop');
    return { toast: { type: 'success', content: 'Stopping the run…' } };
  }

  function deny(
    operator: string,
    token: CallbackToken | undefined,
    reason: string,
    message: string,
  ): CardActionAnswer {
    audit(operator, token, 'denied', reason);
    return refuse(message);
  }

  function audit(
    operator: string,
    token: CallbackToken | undefined,
    decision: 'allowed' | 'denied' | 'done' | 'ignored',
    reason: string,
  ): void {
    deps.audit({
      actor: operator,
      action: `card.${token?.action ?? 'unknown'}`,
      decision: decision === 'ignored' ? 'denied' : decision,
      reason,
      ...(token ? { scopeId: token.scopeId } : {}),
    });
    deps.logger.info(
      {
        audit: 'card.action',
        decision,
        reason,
        operator,
        ...(token ? { action: token.action, scopeId: token.scopeId, runId: token.runId } : {}),
      },
      `card action ${decision}`,
    );
  }
}
