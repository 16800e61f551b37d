import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type {
  ApprovalRequest,
  ApprovalVerdict,
  QuestionAnswers,
  QuestionRequest,
  RunInteractions,
  RunRequest,
} from '../agents/types.js';
import type { AuditLog } from '../audit/audit-log.js';
import { matchAnswer } from '../cards/answer-match.js';
import { approvalCard } from '../cards/approval-card.js';
import { approvalSubject, displayCommand } from '../cards/markdown.js';
import { questionCard } from '../cards/question-card.js';
import type { MessageInput } from '../core/bridge-input.js';
import { type FeishuPort, replyTargetFor } from '../feishu/port.js';
import type { Role } from '../policy/access.js';
import {
  type ApprovalPlan,
  type ApprovalRuleSet,
  mayDecide,
  planApproval,
} from '../policy/approval-rules.js';
import type { CallbackFields, CallbackToken } from '../security/callback-token.js';
import type { ApprovalAllowlist } from '../store/approval-allowlist.js';
import type { CardActionAnswer } from './card-actions.js';
import type { ApprovalOutcomeLabel, QuestionOutcomeLabel } from './metrics.js';

/** Button actions this module answers. */
export const INTERACTION_ACTIONS = ['approve', 'deny', 'always', 'answer'] as const;

export interface InteractionSettings {
  approvalTimeoutMs: number;
  /** How long before the deadline the reminder is posted. */
  remindBeforeMs: number;
  questionTimeoutMs: number;
  twoPersonInGroups: boolean;
  /** Rules for a workspace (the profile's, with that workspace's overrides). */
  rulesFor: (workspace: string) => ApprovalRuleSet;
}

export interface InteractionDeps {
  feishu: FeishuPort;
  logger: Logger;
  audit: Pick<AuditLog, 'record'>;
  allowlist: ApprovalAllowlist;
  settings: () => InteractionSettings;
  now: () => number;
  /** The message that started the run (cards reply to it), while the run is live. */
  starterOf: (scopeId: string, runId: string) => MessageInput | undefined;
  roleOf: (openId: string, chatId: string) => Role | undefined;
  /** Signs a button for this scope's current policy. */
  sign: (fields: Omit<CallbackFields, 'policyFingerprint'>, ttlMs: number) => Record<string, unknown>;
  /** Record a nonce; false when it was used before. */
  firstUseOfNonce: (nonce: string) => boolean;
  /** Told each outcome (metrics). */
  onOutcome?: (
    outcome:
      | { of: 'approval'; outcome: ApprovalOutcomeLabel }
      | { of: 'question'; outcome: QuestionOutcomeLabel },
  ) => void;
}

interface OpenApproval {
  key: string;
  runId: string;
  scopeId: string;
  request: ApprovalRequest;
  plan: Extract<ApprovalPlan, { kind: 'ask' }>;
  starter: MessageInput;
  workspace: string;
  sandbox: RunRequest['sandbox'];
  networkAccess: boolean;
  expiresAt: number;
  messageId?: string;
  settle: (
    verdict: ApprovalVerdict,
    status: 'approved' | 'denied' | 'expired' | 'cancelled',
    by?: string,
  ) => void;
}

interface OpenQuestion {
  key: string;
  runId: string;
  scopeId: string;
  question: QuestionRequest;
  starter: MessageInput;
  expiresAt: number;
  answers: QuestionAnswers;
  messageId?: string;
  optionValues: Record<string, Record<string, unknown>[]>;
  settle: (
    answers: QuestionAnswers | undefined,
    status: 'answered' | 'expired' | 'cancelled',
    by?: string,
  ) => void;
}

/**
 * The people side of a run: the agent's approval requests and questions become cards in the
 * scope; a click (signed, checked against policy) or a typed reply answers them; a deadline
 * denies (after a reminder) or expires them; every decision is audited.
 */
export class InteractionBroker {
  readonly #approvals = new Map<string, OpenApproval>();
  readonly #questions = new Map<string, OpenQuestion>();

  constructor(private readonly deps: InteractionDeps) {}

  /** How this run asks people: cards reply to the message that started it. */
  forRun(request: RunRequest): RunInteractions {
    return {
      approve: (approval, signal) => this.#approve(request, approval, signal),
      ask: (question, signal) => this.#ask(request, question, signal),
    };
  }

  /** Open approvals and questions of a scope, for /status. */
  pendingIn(scopeId: string): { approvals: number; questions: number } {
    return {
      approvals: [...this.#approvals.values()].filter((a) => a.scopeId === scopeId).length,
      questions: [...this.#questions.values()].filter((q) => q.scopeId === scopeId).length,
    };
  }

  // ── approvals ──────────────────────────────────────────────────────────────────────────

  async #approve(run: RunRequest, request: ApprovalRequest, signal: AbortSignal): Promise<ApprovalVerdict> {
    const starter = this.deps.starterOf(run.scopeId, run.runId);
    const settings = this.deps.settings();
    const plan = planApproval(request, {
      workspace: run.workspace,
      sandbox: run.sandbox,
      rules: settings.rulesFor(run.workspace),
      allowPrefixes: this.deps.allowlist.prefixes(run.workspace),
      inGroup: starter?.chat.chatType === 'group',
      twoPersonInGroups: settings.twoPersonInGroups,
    });
    const subject = approvalSubject(request);
    if (plan.kind === 'auto') {
      this.deps.onOutcome?.({ of: 'approval', outcome: 'auto' });
      this.#audit(
        starter?.actorId ?? 'larkcode',
        run,
        'allowed',
        plan.note,
        request,
        plan.classification.risk,
      );
      return { decision: 'approve', note: plan.note };
    }
    if (!starter) {
      const note = 'nobody to ask: the run has no chat message';
      this.#audit('larkcode', run, 'denied', note, request, plan.classification.risk);
      return { decision: 'deny', note };
    }
    if (signal.aborted) return { decision: 'deny', note: 'the run ended' };

    const key = randomBytes(6).toString('base64url');
    const expiresAt = this.deps.now() + settings.approvalTimeoutMs;
    return new Promise<ApprovalVerdict>((resolve) => {
      const timers: NodeJS.Timeout[] = [];
      const open: OpenApproval = {
        key,
        runId: run.runId,
        scopeId: run.scopeId,
        request,
        plan,
        starter,
        workspace: run.workspace,
        sandbox: run.sandbox,
        networkAccess: run.networkAccess,
        expiresAt,
        settle: (verdict, status, by) => {
          if (!this.#approvals.delete(key)) return;
          this.deps.onOutcome?.({ of: 'approval', outcome: status });
          for (const timer of timers) clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          this.#audit(
            by ?? 'larkcode',
            run,
            verdict.decision === 'approve' ? 'allowed' : 'denied',
            verdict.note,
            request,
            plan.classification.risk,
          );
          void this.#updateApprovalCard(open, status, by, verdict.note);
          resolve(verdict);
        },
      };
      const onAbort = () => open.settle({ decision: 'deny', note: 'the run ended' }, 'cancelled');
      signal.addEventListener('abort', onAbort, { once: true });
      this.#approvals.set(key, open);

      const remindIn = settings.approvalTimeoutMs - settings.remindBeforeMs;
      if (remindIn > 0 && settings.remindBeforeMs > 0) {
        timers.push(setTimeout(() => void this.#remind(open, subject), remindIn));
      }
      timers.push(
        setTimeout(() => {
          const seconds = Math.round(settings.approvalTimeoutMs / 1000);
          open.settle({ decision: 'deny', note: `nobody approved within ${seconds} s` }, 'expired');
        }, settings.approvalTimeoutMs),
      );
      void this.#postApprovalCard(open);
    });
  }

  async #postApprovalCard(open: OpenApproval): Promise<void> {
    const ttlMs = open.expiresAt - this.deps.now() + 60_000;
    const fields = (action: string) => ({
      runId: open.runId,
      scopeId: open.scopeId,
      chatId: open.starter.chat.chatId,
      operatorOpenId: open.starter.actorId,
      action,
      arg: open.key,
    });
    const buttons = {
      approve: this.deps.sign(fields('approve'), ttlMs),
      deny: this.deps.sign(fields('deny'), ttlMs),
      ...(open.plan.classification.alwaysPrefix ? { always: this.deps.sign(fields('always'), ttlMs) } : {}),
    };
    try {
      open.messageId = await this.deps.feishu.replyCard(
        replyTargetFor(open.starter),
        approvalCard({ ...this.#approvalView(open, 'pending'), buttons }),
      );
      // Settled while the card was being sent: show the outcome now.
      if (!this.#approvals.has(open.key)) await this.#updateApprovalCard(open, 'cancelled');
    } catch (error) {
      this.deps.logger.error({ err: error, runId: open.runId }, 'approval card could not be sent; denying');
      open.settle({ decision: 'deny', note: 'the approval card could not be sent' }, 'cancelled');
    }
  }

  #approvalView(open: OpenApproval, status: Parameters<typeof approvalCard>[0]['status']) {
    return {
      request: open.request,
      risk: open.plan.classification.risk,
      hints: open.plan.classification.hints,
      requesterName: open.starter.actorId,
      approversText: approversText(open.plan),
      sandbox: open.sandbox,
      networkAccess: open.networkAccess,
      expiresAt: open.expiresAt,
      now: this.deps.now(),
      status,
      ...(open.plan.classification.alwaysPrefix
        ? { alwaysPrefix: open.plan.classification.alwaysPrefix }
        : {}),
    };
  }

  /** The final card: decided, expired or cancelled. */
  async #updateApprovalCard(
    open: OpenApproval,
    status: 'approved' | 'denied' | 'expired' | 'cancelled',
    by?: string,
    note?: string,
  ): Promise<void> {
    if (!open.messageId) return;
    const card = approvalCard({
      ...this.#approvalView(open, status),
      ...(by ? { decidedBy: by } : {}),
      ...(note ? { note } : {}),
    });
    await this.#patch(open.messageId, card, open.runId);
  }

  async #remind(open: OpenApproval, subject: string): Promise<void> {
    if (!this.#approvals.has(open.key)) return;
    const seconds = Math.max(1, Math.round((open.expiresAt - this.deps.now()) / 1000));
    const text = `⏰ Still waiting for approval: ${subject}. It is denied in ${seconds} s unless ${approversText(open.plan)} approve${open.plan.approvers === 'requester' ? '' : 's'}.`;
    try {
      await this.deps.feishu.replyText(replyTargetFor(open.starter, open.messageId), text);
    } catch (error) {
      this.deps.logger.warn({ err: error, runId: open.runId }, 'approval reminder could not be sent');
    }
  }

  // ── questions ──────────────────────────────────────────────────────────────────────────

  async #ask(
    run: RunRequest,
    question: QuestionRequest,
    signal: AbortSignal,
  ): Promise<QuestionAnswers | undefined> {
    const starter = this.deps.starterOf(run.scopeId, run.runId);
    if (!starter || signal.aborted || question.questions.length === 0) return undefined;
    const settings = this.deps.settings();
    const key = randomBytes(6).toString('base64url');
    const expiresAt = this.deps.now() + settings.questionTimeoutMs;
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const open: OpenQuestion = {
        key,
        runId: run.runId,
        scopeId: run.scopeId,
        question,
        starter,
        expiresAt,
        answers: {},
        optionValues: {},
        settle: (answers, status, by) => {
          if (!this.#questions.delete(key)) return;
          this.deps.onOutcome?.({ of: 'question', outcome: status });
          if (timer) clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          this.deps.audit.record({
            actor: by ?? 'larkcode',
            scopeId: run.scopeId,
            action: 'question',
            decision: status === 'answered' ? 'allowed' : 'denied',
            reason: status,
            detail: { runId: run.runId, questions: question.questions.map((q) => q.question.slice(0, 200)) },
          });
          void this.#updateQuestionCard(open, status, by);
          resolve(answers);
        },
      };
      const onAbort = () => open.settle(undefined, 'cancelled');
      signal.addEventListener('abort', onAbort, { once: true });
      this.#questions.set(key, open);
      timer = setTimeout(() => open.settle(undefined, 'expired'), settings.questionTimeoutMs);
      void this.#postQuestionCard(open);
    });
  }

  async #postQuestionCard(open: OpenQuestion): Promise<void> {
    const ttlMs = open.expiresAt - this.deps.now() + 60_000;
    open.question.questions.forEach((q, questionIndex) => {
      open.optionValues[q.id] = q.options.map((_, optionIndex) =>
        this.deps.sign(
          {
            runId: open.runId,
            scopeId: open.scopeId,
            chatId: open.starter.chat.chatId,
            operatorOpenId: open.starter.actorId,
            action: 'answer',
            arg: `${open.key}:${questionIndex}:${optionIndex}`,
          },
          ttlMs,
        ),
      );
    });
    try {
      open.messageId = await this.deps.feishu.replyCard(
        replyTargetFor(open.starter),
        questionCard({ ...this.#questionView(open, 'pending'), optionValues: open.optionValues }),
      );
      if (!this.#questions.has(open.key)) await this.#updateQuestionCard(open, 'cancelled');
    } catch (error) {
      this.deps.logger.error({ err: error, runId: open.runId }, 'question card could not be sent');
      open.settle(undefined, 'cancelled');
    }
  }

  #questionView(open: OpenQuestion, status: 'pending' | 'answered' | 'expired' | 'cancelled') {
    return {
      question: open.question,
      askedOf: `${open.starter.actorId} or an admin`,
      expiresAt: open.expiresAt,
      now: this.deps.now(),
      status,
      ...(Object.keys(open.answers).length > 0 ? { answers: open.answers } : {}),
    };
  }

  async #updateQuestionCard(
    open: OpenQuestion,
    status: 'answered' | 'expired' | 'cancelled' | 'pending',
    by?: string,
  ): Promise<void> {
    if (!open.messageId) return;
    const card = questionCard({
      ...this.#questionView(open, status),
      ...(by ? { answeredBy: by } : {}),
      ...(status === 'pending' ? { optionValues: open.optionValues } : {}),
    });
    await this.#patch(open.messageId, card, open.runId);
  }

  /** An approval or question card's new state; a failure is logged (the decision already counts). */
  async #patch(messageId: string, card: Record<string, unknown>, runId: string): Promise<void> {
    try {
      await this.deps.feishu.patchCard(messageId, card, { urgent: true });
    } catch (error) {
      this.deps.logger.warn({ err: error, runId }, 'approval or question card could not be updated');
    }
  }

  /** Record one answer; the question settles once every part has one. */
  #answer(open: OpenQuestion, questionId: string, answer: string, by: string): void {
    open.answers[questionId] = [answer];
    const complete = open.question.questions.every((q) => open.answers[q.id]);
    if (complete) open.settle({ ...open.answers }, 'answered', by);
    else void this.#updateQuestionCard(open, 'pending');
  }

  /**
   * A plain message in a scope with an open question from someone who may answer it: it answers
   * the first unanswered part (by number, option name or, where allowed, free text). Returns the
   * reply to send when the message was taken (an acknowledgement or why it did not match), or
   * undefined when the message is not an answer (it goes to the agent as usual).
   */
  answerByMessage(input: MessageInput): { reply?: string } | undefined {
    const open = [...this.#questions.values()].find((q) => q.scopeId === input.scopeId);
    if (!open || !this.#mayAnswer(open, input.actorId, input.chat.chatId)) return undefined;
    const part = open.question.questions.find((q) => !open.answers[q.id]);
    if (!part) return undefined;
    const matched = matchAnswer(part, input.text);
    if (!matched.ok) return { reply: matched.reason };
    this.#answer(open, part.id, matched.answer, input.actorId);
    return {};
  }

  #mayAnswer(open: OpenQuestion, operatorId: string, chatId: string): boolean {
    if (operatorId === open.starter.actorId) return true;
    const role = this.deps.roleOf(operatorId, chatId);
    return role === 'owner' || role === 'admin';
  }

  // ── card buttons ───────────────────────────────────────────────────────────────────────

  /** A verified press of an approval or question button (signature, chat and policy already checked). */
  handleAction(token: CallbackToken, operator: string): CardActionAnswer {
    if (token.action === 'answer') return this.#pressOption(token, operator);
    const open = token.arg ? this.#approvals.get(token.arg) : undefined;
    if (!open || open.runId !== token.runId) {
      return info('This request was already decided, or has expired.');
    }
    const role = this.deps.roleOf(operator, open.starter.chat.chatId);
    if (token.action === 'deny') {
      // Saying no needs less than saying yes: the requester, or anyone who could approve.
      const mayDeny =
        operator === open.starter.actorId ||
        mayDecide(open.plan, { operatorId: operator, operatorRole: role, requesterId: '' }).ok;
      if (!mayDeny)
        return this.#refuse(operator, open, 'Only the person who asked or an approver can deny this.');
    } else {
      const allowed = mayDecide(open.plan, {
        operatorId: operator,
        operatorRole: role,
        requesterId: open.starter.actorId,
      });
      if (!allowed.ok) return this.#refuse(operator, open, allowed.reason);
    }
    if (!this.deps.firstUseOfNonce(token.nonce))
      return this.#refuse(operator, open, 'This button was already used.');

    if (token.action === 'deny') {
      open.settle({ decision: 'deny', note: `denied by ${operator}`, by: operator }, 'denied', operator);
      return { toast: { type: 'success', content: 'Denied. The agent is told.' } };
    }
    if (token.action === 'always') {
      const prefix = open.plan.classification.alwaysPrefix;
      if (!prefix) return this.#refuse(operator, open, 'This request cannot be always allowed.');
      this.deps.allowlist.add(open.workspace, prefix, operator, this.deps.now());
      const note = `approved by ${operator}; \`${prefix.join(' ')}\` is now always allowed in this workspace`;
      this.deps.audit.record({
        actor: operator,
        scopeId: open.scopeId,
        action: 'approval.rule.add',
        decision: 'done',
        detail: { workspace: open.workspace, prefix },
      });
      open.settle({ decision: 'approve', note, by: operator }, 'approved', operator);
      return {
        toast: { type: 'success', content: `Approved, and always allowed here: ${prefix.join(' ')}` },
      };
    }
    open.settle({ decision: 'approve', note: `approved by ${operator}`, by: operator }, 'approved', operator);
    return { toast: { type: 'success', content: 'Approved.' } };
  }

  #pressOption(token: CallbackToken, operator: string): CardActionAnswer {
    const [key, questionIndex, optionIndex] = (token.arg ?? '').split(':');
    const open = key ? this.#questions.get(key) : undefined;
    if (!open || open.runId !== token.runId)
      return info('This question was already answered, or has expired.');
    if (!this.#mayAnswer(open, operator, open.starter.chat.chatId)) {
      return refuse('Only the person who started this run or an admin can answer.');
    }
    const part = open.question.questions[Number(questionIndex)];
    const option = part?.options[Number(optionIndex)];
    if (!part || !option) return refuse('This button is not one larkcode can act on. Nothing was done.');
    if (open.answers[part.id]) return info('That question already has an answer.');
    if (!this.deps.firstUseOfNonce(token.nonce)) return refuse('This button was already used.');
    this.#answer(open, part.id, option.label, operator);
    return { toast: { type: 'success', content: `Answered: ${option.label}` } };
  }

  #refuse(operator: string, open: OpenApproval, message: string): CardActionAnswer {
    this.deps.audit.record({
      actor: operator,
      scopeId: open.scopeId,
      action: 'approval.click',
      decision: 'denied',
      reason: message,
      detail: { runId: open.runId },
    });
    return refuse(message);
  }

  #audit(
    actor: string,
    run: RunRequest,
    decision: 'allowed' | 'denied',
    reason: string,
    request: ApprovalRequest,
    risk: string,
  ): void {
    this.deps.audit.record({
      actor,
      scopeId: run.scopeId,
      action: `approval.${request.kind}`,
      decision,
      reason,
      detail: {
        runId: run.runId,
        risk,
        cwd: request.cwd,
        ...(request.command ? { command: displayCommand(request.command).slice(0, 500) } : {}),
        ...(request.changes ? { paths: request.changes.slice(0, 20).map((c) => c.path) } : {}),
      },
    });
  }

  /** Ends everything open (shutdown): approvals are denied, questions expire. */
  closeAll(): void {
    for (const open of [...this.#approvals.values()])
      open.settle({ decision: 'deny', note: 'larkcode is shutting down' }, 'cancelled');
    for (const open of [...this.#questions.values()]) open.settle(undefined, 'cancelled');
  }
}

function approversText(plan: Extract<ApprovalPlan, { kind: 'ask' }>): string {
  const who =
    plan.approvers === 'owner'
      ? 'the owner'
      : plan.approvers === 'admin'
        ? 'an admin'
        : 'the requester or an admin';
  return plan.twoPerson ? `${who} other than the requester` : who;
}

const info = (content: string): CardActionAnswer => ({ toast: { type: 'info', content } });
const refuse = (content: string): CardActionAnswer => ({ toast: { type: 'error', content } });
