import type { Logger } from 'pino';
import type { FinishedRun } from '../../machines/scope.machine.js';
import { renderFinalRunCard } from '../cards/run-card.js';
import { answerText } from '../cards/run-state.js';
import { FeishuApiError, type FeishuFailure } from '../feishu/errors.js';
import type { FeishuPort, ReplyTarget } from '../feishu/port.js';
import { splitForTextMessages } from './split-text.js';

export interface PublishDeps {
  feishu: FeishuPort;
  logger: Logger;
  agentName: string;
}

/**
 * Tell the user how a run ended: a card replying to the last message of the batch.
 * The answer always lands: if the message to reply to is gone it goes to the chat,
 * and if Feishu refuses the card (size, structure) it goes as text.
 */
export async function publishRunResult(run: FinishedRun, deps: PublishDeps): Promise<void> {
  const last = run.inputs[run.inputs.length - 1];
  if (!last) return;
  const chatId = last.chat.chatId;
  const target: ReplyTarget = { chatId, messageId: last.messageId, inThread: Boolean(last.chat.threadId) };
  const card = renderFinalRunCard(run.state, {
    elapsedMs: run.startedAt ? run.endedAt - run.startedAt : 0,
    workspace: run.settings.workspace,
    sandbox: run.settings.sandbox,
    agent: deps.agentName,
  });
  const log = deps.logger.child({ scopeId: run.scopeId, runId: run.runId });

  let replyGone = false;
  const deliver = async (asReply: () => Promise<unknown>, toChat: () => Promise<unknown>) => {
    if (!replyGone) {
      try {
        await asReply();
        return;
      } catch (error) {
        if (!isFailure(error, 'message_gone')) throw error;
        replyGone = true;
        log.warn({ err: String(error) }, 'reply target gone; sending to the chat instead');
      }
    }
    await toChat();
  };

  try {
    await deliver(
      () => deps.feishu.replyCard(target, card),
      () => deps.feishu.sendCard(chatId, card),
    );
    log.info({ outcome: run.state.outcome }, 'run result published');
    return;
  } catch (error) {
    const fallback = isFailure(error, 'too_large', 'card_rejected', 'invalid');
    log.warn({ err: String(error), fallback }, 'run card failed');
    if (!fallback) throw error;
  }
  const outcomeLine = `[${run.state.outcome ?? 'failed'}]${run.state.error ? ` ${run.state.error}` : ''}`;
  const chunks = splitForTextMessages(`${outcomeLine}\n\n${answerText(run.state)}`.trim());
  for (const chunk of chunks) {
    await deliver(
      () => deps.feishu.replyText(target, chunk),
      () => deps.feishu.sendText(chatId, chunk),
    );
  }
  log.info({ outcome: run.state.outcome, chunks: chunks.length }, 'run result published as text');
}

function isFailure(error: unknown, ...failures: FeishuFailure[]): boolean {
  return error instanceof FeishuApiError && failures.includes(error.failure);
}
