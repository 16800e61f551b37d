import type { Logger } from 'pino';
import type { FinishedRun } from '../../machines/scope.machine.js';
import { renderFinalRunCard } from '../cards/run-card.js';
import { answerText } from '../cards/run-state.js';
import { FeishuApiError } from '../feishu/errors.js';
import type { FeishuPort, ReplyTarget } from '../feishu/port.js';
import { splitForTextMessages } from './split-text.js';

export interface PublishDeps {
  feishu: FeishuPort;
  logger: Logger;
  agentName: string;
}

/**
 * Tell the user how a run ended: a card replying to the last message of the batch.
 * If Feishu refuses the card (size, structure), the answer still lands as text.
 */
export async function publishRunResult(run: FinishedRun, deps: PublishDeps): Promise<void> {
  const last = run.inputs[run.inputs.length - 1];
  if (!last) return;
  const target: ReplyTarget = { messageId: last.messageId, inThread: Boolean(last.chat.threadId) };
  const card = renderFinalRunCard(run.state, {
    elapsedMs: run.startedAt ? run.endedAt - run.startedAt : 0,
    workspace: run.settings.workspace,
    sandbox: run.settings.sandbox,
    agent: deps.agentName,
  });
  const log = deps.logger.child({ scopeId: run.scopeId, runId: run.runId });
  try {
    await deps.feishu.replyCard(target, card);
    log.info({ outcome: run.state.outcome }, 'run result published');
    return;
  } catch (error) {
    const fallback =
      error instanceof FeishuApiError && ['too_large', 'card_rejected', 'invalid'].includes(error.failure);
    log.warn({ err: String(error), fallback }, 'run card failed');
    if (!fallback) throw error;
  }
  const outcomeLine = `[${run.state.outcome ?? 'failed'}]${run.state.error ? ` ${run.state.error}` : ''}`;
  const chunks = splitForTextMessages(`${outcomeLine}\n\n${answerText(run.state)}`.trim());
  for (const chunk of chunks) await deps.feishu.replyText(target, chunk);
  log.info({ outcome: run.state.outcome, chunks: chunks.length }, 'run result published as text');
}
