import type { Logger } from 'pino';
import type { CardRef, FlushFailure, FlushRequest, FlushResult } from '../../machines/renderer.machine.js';
import { renderRunCard } from '../cards/run-card.js';
import { answerText } from '../cards/run-state.js';
import { FeishuApiError } from '../feishu/errors.js';
import type { FeishuPort, ReplyTarget } from '../feishu/port.js';
import { splitForTextMessages } from './split-text.js';

export interface CardSinkDeps {
  feishu: FeishuPort;
  logger: Logger;
  agentName: string;
  now: () => number;
  /** Remember which message shows a run, so a restart can mark it interrupted. */
  onCardCreated?: (scopeId: string, runId: string, messageId: string) => void;
}

/**
 * Writes a run's view to its card: the first write replies to the run's last
 * message with an interactive card, later writes PATCH it. Failures are
 * classified for the renderer (rate limit → it backs off and coalesces); the
 * final content always lands — as a new message if the old one is gone, as
 * text if Feishu refuses the card.
 */
export function createCardSink(deps: CardSinkDeps) {
  return async function flushCard(request: FlushRequest): Promise<FlushResult> {
    const { view } = request;
    const card = renderRunCard(view, { agent: deps.agentName, now: deps.now() });
    const final = view.stage === 'finished';
    const last = view.inputs[view.inputs.length - 1];
    const chatId = last?.chat.chatId ?? '';
    const target: ReplyTarget | undefined = last && {
      chatId,
      messageId: last.messageId,
      inThread: Boolean(last.chat.threadId),
    };
    try {
      if (request.cardRef?.messageId) {
        await deps.feishu.patchCard(request.cardRef.messageId, card, { urgent: final });
        return { cardRef: request.cardRef, version: request.version };
      }
      if (!target) throw new Error('run has no message to reply to');
      const messageId = await deps.feishu.replyCardOnce(target, card, { urgent: final });
      deps.onCardCreated?.(view.scopeId, view.runId, messageId);
      return { cardRef: { messageId }, version: request.version };
    } catch (error) {
      if (error instanceof FeishuApiError) {
        if (error.failure === 'rate_limited') {
          throw failure('rate_limited', error.message, error.retryAfterMs);
        }
        if (error.failure === 'message_gone' && chatId) {
          // The card (or the message it replied to) is gone: carry on in a new message.
          const messageId = await deps.feishu.sendCard(chatId, card).catch((sendError: unknown) => {
            throw classify(sendError);
          });
          deps.onCardCreated?.(view.scopeId, view.runId, messageId);
          return { cardRef: { messageId }, version: request.version };
        }
        if (final && ['too_large', 'card_rejected', 'invalid'].includes(error.failure) && target) {
          await sendAsText(deps, target, request.cardRef, view);
          return { cardRef: request.cardRef ?? { messageId: '' }, version: request.version };
        }
      }
      throw classify(error);
    }
  };
}

/** The final answer as [i/n] text messages when the card itself cannot carry it. */
async function sendAsText(
  deps: CardSinkDeps,
  target: ReplyTarget,
  cardRef: CardRef | undefined,
  view: FlushRequest['view'],
) {
  const outcome = view.agent.outcome ?? 'failed';
  const reason = view.agent.error ?? view.note;
  const text = `[${outcome}]${reason ? ` ${reason}` : ''}\n\n${answerText(view.agent)}`.trim();
  for (const chunk of splitForTextMessages(text)) await deps.feishu.replyText(target, chunk);
  deps.logger.warn(
    { runId: view.runId, cardMessageId: cardRef?.messageId },
    'run card refused; final answer sent as text',
  );
}

function failure(kind: FlushFailure['kind'], message: string, retryAfterMs?: number): FlushFailure {
  return { kind, message, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
}

function classify(error: unknown): FlushFailure {
  if (error instanceof FeishuApiError && error.failure === 'rate_limited') {
    return failure('rate_limited', error.message, error.retryAfterMs);
  }
  return failure('failed', error instanceof Error ? error.message : String(error));
}
