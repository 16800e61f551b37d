import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { type ActorRefFrom, createActor, type InspectionEvent } from 'xstate';
import { createRunnerLogic } from '../../machines/runner.js';
import {
  type InterruptedRun,
  type Notice,
  type RenderUpdate,
  type ScopeFacts,
  type ScopeSeed,
  type ScopeSettings,
  scopeMachine,
} from '../../machines/scope.machine.js';
import { type ScopeBoundEvent, supervisorMachine } from '../../machines/supervisor.machine.js';
import { CodexAppServerRunner } from '../agents/codex-app-server/runner.js';
import { codexChildEnvironment, providerKeyNames } from '../agents/codex-sdk/env.js';
import { killLeftoverCodex } from '../agents/codex-sdk/reap-orphans.js';
import { CodexSdkRunner } from '../agents/codex-sdk/runner.js';
import type { AgentRunner } from '../agents/types.js';
import { AuditLog } from '../audit/audit-log.js';
import { turnUsage } from '../cards/run-card.js';
import { parseInput } from '../commands/parse.js';
import { secretContext } from '../config/load.js';
import type { LarkcodePaths } from '../config/paths.js';
import type { AccessMode, LarkcodeConfig } from '../config/schema.js';
import { resolveSecret } from '../config/secrets.js';
import type { MessageInput } from '../core/bridge-input.js';
import { LarkcodeError } from '../core/errors.js';
import { sleep } from '../core/retry.js';
import { FeishuApi } from '../feishu/api.js';
import { FeishuGateway } from '../feishu/gateway.js';
import { decideMessage, type RawMessageEvent } from '../feishu/intake.js';
import type { LivenessOptions } from '../feishu/liveness.js';
import { createFeishuPort } from '../feishu/outbound.js';
import { type FeishuPort, replyTargetFor } from '../feishu/port.js';
import { type AccessPolicy, isAdmin, roleOf } from '../policy/access.js';
import { policyFingerprint } from '../policy/fingerprint.js';
import { resolveWorkspace, validateWorkspace } from '../policy/workspace.js';
import { CallbackKeyStore, DEFAULT_ROTATE_AFTER_MS } from '../security/callback-keys.js';
import type { CallbackFields, CallbackToken } from '../security/callback-token.js';
import { signCallback } from '../security/callback-token.js';
import { AccessList } from '../store/access-list.js';
import { ApprovalAllowlist } from '../store/approval-allowlist.js';
import { DedupLedger } from '../store/dedup-ledger.js';
import { RuntimeSettingsStore } from '../store/runtime-settings.js';
import { type ScopeRecord, ScopeStore } from '../store/scope-store.js';
import { SessionCatalog } from '../store/session-catalog.js';
import { WorkspaceAliases } from '../store/workspace-aliases.js';
import { type CardActionAnswer, createCardActionHandler } from './card-actions.js';
import { createCardSink, type RunCardHandle } from './card-sink.js';
import {
  ACCESS_FOR_SANDBOX,
  accessAllowed,
  type CommandDeps,
  type ConfigurePlan,
  resumePlan,
  runCommand,
  SANDBOX_FOR_ACCESS,
  type ScopeState,
  workspacePlan,
} from './commands.js';
import { checkSetup, codexCheck } from './doctor.js';
import { EffectTracker } from './effects.js';
import { composeHealthReport, startHealthServer } from './health-server.js';
import { defaultRegistryDir } from './instance-lock.js';
import { InteractionBroker } from './interactions.js';
import { LarkcodeMetrics } from './metrics.js';
import { RunReactions } from './reactions.js';
import { RenderHub } from './render-hub.js';

export interface DaemonOptions {
  config: LarkcodeConfig;
  paths: LarkcodePaths;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  /** Replace the agent backend (tests use a scripted runner). */
  agent?: AgentRunner;
  /** Observer for the Stately inspector or the JSONL recorder. */
  inspect?: (event: InspectionEvent) => void;
  /** Time between two writes to one card (CardKit: ≤ 10 operations/s per card). */
  cardFlushIntervalMs?: number;
  /** Deaf-connection watchdog timing (tests shorten it). */
  liveness?: LivenessOptions;
  /** /exit from an admin: the CLI stops the daemon and exits. */
  onExit?: () => void;
  /** Turn a card's streaming on again this often (Feishu closes it 10 min after it was turned on). */
  cardStreamingRefreshMs?: number;
}

export interface Daemon {
  readonly botOpenId: string;
  /** Stop taking input, report runs in flight as interrupted, flush, disconnect. */
  stop(deadlineMs?: number): Promise<void>;
}

const INTERRUPTED_BY_CRASH =
  'larkcode stopped unexpectedly during this run (crash or kill); it was not re-run.';

/** The composition root: the only place that wires real I/O into the machines. */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const { config, paths, logger } = options;
  const env = options.env ?? process.env;
  const workspace = validateWorkspace(config.workspace);
  mkdirSync(paths.stateDir, { recursive: true, mode: 0o700 });

  const scopes = new ScopeStore(paths.stateDir);
  const ledger = new DedupLedger(paths.stateDir);
  const catalog = SessionCatalog.open(paths.stateDir, {
    onCorrupt: (info) => logger.error(info, 'a session catalog file was corrupt and was set aside'),
  });
  const aliases = WorkspaceAliases.open(paths.stateDir);
  const grants = AccessList.open(paths.stateDir);
  const auditLog = AuditLog.open(paths.stateDir, {
    onError: (error) => logger.error({ err: error }, 'audit log'),
  });
  // Every decision also goes to the log (seed 004 §5.16: access decisions, command dispatch,
  // policy decisions), so one stream tells the whole story.
  const audit = {
    record: (record: Parameters<AuditLog['record']>[0]) => {
      logger.info({ audit: record.action, ...record }, `audit ${record.action} ${record.decision}`);
      auditLog.record(record);
    },
    flush: () => auditLog.flush(),
  };
  const metrics = new LarkcodeMetrics();
  const startedAt = Date.now();
  let lastEventAt: number | undefined;
  const api = new FeishuApi(
    { appId: config.appId, appSecret: config.appSecret, domain: config.domain },
    logger,
  );
  const feishu: FeishuPort = createFeishuPort(api);
  const bot = await api.botIdentity();
  const agent = options.agent ?? createCodexRunner(config, paths, env, logger);
  const effects = new EffectTracker(logger);
  // The agent's smoke test for /health: the codex binary answers for its version — checked once
  // the daemon is up, not before (a scripted backend in tests has nothing to check).
  const agentCheck = { ok: true, detail: agent.name, checkedAt: Date.now() };
  if (!options.agent) {
    setTimeout(() => {
      const check = codexCheck(config);
      Object.assign(agentCheck, { ok: check.ok, detail: check.detail, checkedAt: Date.now() });
      if (!check.ok) logger.error({ detail: check.detail }, 'agent smoke test failed');
    }, 1000).unref();
  }

  const runtimeSettings = RuntimeSettingsStore.open(paths.stateDir);
  // What a chat gets with no overrides: config.json, then what /config changed.
  const profileSettings = (): ScopeSettings => {
    const changed = runtimeSettings.get();
    return {
      workspace,
      sandbox: SANDBOX_FOR_ACCESS[changed.defaultAccess ?? config.permissions.defaultAccess],
      networkAccess: config.permissions.networkAccess,
      debounceMs: changed.debounceMs ?? config.runs.debounceMs,
      idleTimeoutMs: (changed.idleTimeoutSec ?? config.runs.idleTimeoutSec) * 1000,
      runCapMs: config.runs.maxRunMinutes * 60_000,
      stopGraceMs: 10_000,
      evictAfterMs: 30 * 60_000,
    };
  };
  let baseSettings = profileSettings();
  const showReasoning = () => runtimeSettings.get().showReasoning ?? config.cards.showReasoning;
  const requireMention = (chatId: string) =>
    runtimeSettings.get().groups?.[chatId]?.requireMention ??
    runtimeSettings.get().requireMention ??
    config.groups.requireMention;

  /** Per chat: a message during a run steers it (where the agent can steer) or waits. */
  const midRunMessages = (chatId: string) =>
    runtimeSettings.get().chats?.[chatId]?.midRunMessages ?? config.runs.midRunMessages;
  const steersMidRun = (scopeId: string) =>
    agent.steer !== undefined && midRunMessages(chatIdOfScope(scopeId)) === 'steer';

  const codexHome = codexHomeFor(config, paths, env);
  const callbackKeys = CallbackKeyStore.open(paths.stateDir);
  const allowlist = new ApprovalAllowlist(join(paths.stateDir, 'approval-rules.json'), {
    onCorrupt: (info) => logger.error(info, 'the always-allow rules file was corrupt and was set aside'),
  });
  // Keys rotate at start-up when due; a daemon that runs for weeks rotates on its own too.
  const keyRotation = setInterval(() => {
    if (callbackKeys.currentKeyAgeMs() >= DEFAULT_ROTATE_AFTER_MS) {
      logger.info({ keyVersion: callbackKeys.rotate() }, 'callback signing key rotated');
    }
  }, 6 * 3_600_000);
  keyRotation.unref();
  const reactions = new RunReactions(feishu, logger);
  // How the agent authenticates and who may widen access are part of the policy too: a thread
  // never continues after either changed.
  const authMode = config.codex.auth ?? (config.codex.apiKey ? 'api-key' : 'codex-home');
  const accessDigest = `owner=${config.owner ?? ''};max=${config.permissions.maxAccess}`;
  const fingerprintOf = (scopeId: string, settings: ScopeSettings) =>
    policyFingerprint({
      scopeId,
      cwd: settings.workspace,
      sandbox: settings.sandbox,
      networkAccess: settings.networkAccess,
      codexHome,
      authMode,
      accessDigest,
    });
  // A Stop button lives as long as a run can: the wall-clock cap plus time waiting for a slot.
  const stopButtonTtlMs = (config.runs.maxRunMinutes + 60) * 60_000;

  // Which card shows each run, so a crash can be reported on that very card.
  const cardsByRun = new Map<string, RunCardHandle>();
  const cardSink = createCardSink({
    feishu,
    logger,
    agentName: agent.name,
    ...(modelName(config) ? { model: modelName(config) } : {}),
    get showReasoning() {
      return showReasoning();
    },
    now: Date.now,
    ...(options.cardStreamingRefreshMs ? { streamingRefreshMs: options.cardStreamingRefreshMs } : {}),
    stopActionFor: (view) => {
      const starter = view.inputs[0];
      if (!starter || !view.settings) return undefined;
      return {
        ...signCallback(
          {
            runId: view.runId,
            scopeId: view.scopeId,
            chatId: starter.chat.chatId,
            operatorOpenId: starter.actorId,
            action: 'stop',
            policyFingerprint: fingerprintOf(view.scopeId, view.settings),
          },
          { keys: callbackKeys, ttlMs: stopButtonTtlMs },
        ),
      };
    },
    onCardCreated: (scopeId, runId, card) => {
      cardsByRun.set(runId, card);
      const record = scopes.get(scopeId);
      if (record?.inflight?.runId === runId) {
        scopes.put({ ...record, inflight: { ...record.inflight, ...cardFields(card) } });
      }
    },
  });
  const renderHub = new RenderHub({
    onGaveUp: () => metrics.failures.inc({ phase: 'card' }),
    flushIntervalMs: options.cardFlushIntervalMs ?? 150,
    logger,
    ...(options.inspect ? { inspect: options.inspect } : {}),
    flushCard: cardSink,
    onFinished: (view) => {
      const turn = turnUsage(view);
      if (turn && !turn.threadTotal) metrics.recordTokens(turn.usage);
      audit.record({
        actor: view.inputs[0]?.actorId ?? 'larkcode',
        ...(view.scopeId ? { scopeId: view.scopeId } : {}),
        action: 'run.end',
        decision: 'done',
        reason: view.agent.outcome ?? 'failed',
        detail: { runId: view.runId, ...(view.note ? { note: view.note } : {}) },
      });
      cardSink.forget(view.runId);
      cardsByRun.delete(view.runId);
      reactions.settle(
        view.inputs.map((input) => input.messageId),
        view.agent.outcome ?? 'failed',
      );
      const { sessionId, usage } = view.agent;
      if (sessionId && usage && view.scopeId) {
        scopes.update(view.scopeId, (record) => ({ ...record, lastUsage: { sessionId, usage } }));
      }
    },
  });
  // The thread a run resumes and its totals so far, so the card can show this turn's tokens.
  const withUsageBaseline = (update: RenderUpdate): RenderUpdate => {
    if (update.type !== 'render.open') return update;
    const record = scopes.get(update.scopeId);
    if (!record?.sessionId) return update;
    const usage = record.lastUsage?.sessionId === record.sessionId ? record.lastUsage.usage : undefined;
    return { ...update, usageBaseline: { sessionId: record.sessionId, ...(usage ? { usage } : {}) } };
  };

  const persistScope = (facts: ScopeFacts) => {
    scopes.update(facts.scopeId, (record) =>
      toRecord(record, facts, baseSettings, cardsByRun, (f) =>
        fingerprintOf(f.scopeId, { ...baseSettings, workspace: f.workspace, sandbox: f.sandbox }),
      ),
    );
  };
  const notify = (notice: Notice) => {
    if (!notice.replyTo) return;
    effects.track('notice', feishu.replyText(replyTargetFor(notice.replyTo), notice.text));
  };
  const reportInterruptedRun = (scopeId: string, run: InterruptedRun) => {
    logger.warn({ scopeId, runId: run.runId }, 'run was in flight at a crash; reporting it interrupted');
    const existingCard = run.cardMessageId
      ? {
          messageId: run.cardMessageId,
          ...(run.cardId ? { cardId: run.cardId, cardCreatedAt: run.cardCreatedAt ?? 0 } : {}),
        }
      : undefined;
    renderHub.update(
      run.runId,
      {
        type: 'render.open',
        scopeId,
        inputs: run.inputs,
        settings: settingsFor(scopes.get(scopeId), baseSettings),
      },
      existingCard,
    );
    if (run.startedAt) renderHub.update(run.runId, { type: 'render.started', at: run.startedAt });
    renderHub.update(run.runId, {
      type: 'render.finish',
      outcome: 'interrupted',
      note: INTERRUPTED_BY_CRASH,
      at: Date.now(),
    });
  };

  // Run metrics from the updates each run's card gets: open → started → finish.
  const runTimes = new Map<string, { openedAt: number; startedAt?: number }>();
  const countRun = (runId: string, update: RenderUpdate) => {
    const now = Date.now();
    // Run lifecycle, pool state and the agent's event transitions, for the log.
    if (update.type === 'render.waiting')
      logger.info({ runId, position: update.position }, 'run waiting for a free slot');
    if (update.type === 'render.started') logger.info({ runId }, 'run started');
    if (update.type === 'render.agent' && update.event.type !== 'text' && update.event.type !== 'reasoning') {
      logger.debug(
        {
          runId,
          event: update.event.type,
          ...(update.event.type === 'tool'
            ? { tool: update.event.tool.kind, status: update.event.tool.status }
            : {}),
        },
        'agent event',
      );
    }
    if (update.type === 'render.finish')
      logger.info(
        { runId, outcome: update.outcome, ...(update.error ? { error: update.error } : {}) },
        'run finished',
      );
    if (update.type === 'render.open') runTimes.set(runId, { openedAt: now });
    if (update.type === 'render.started') {
      const times = runTimes.get(runId);
      if (times && times.startedAt === undefined) {
        times.startedAt = now;
        metrics.runsStarted.inc();
        metrics.activeRuns.inc();
        metrics.queueWaitSeconds.observe((now - times.openedAt) / 1000);
      }
    }
    if (update.type === 'render.finish') {
      const times = runTimes.get(runId);
      runTimes.delete(runId);
      metrics.runsFinished.inc({ outcome: update.outcome });
      if (update.outcome === 'failed') metrics.failures.inc({ phase: 'agent' });
      if (times?.startedAt !== undefined) {
        metrics.activeRuns.dec();
        metrics.runDurationSeconds.observe((now - times.startedAt) / 1000);
      }
    }
  };

  // 50 ms while few runs stream (text shows within ~200 ms); wider when many do, as each card's
  // writes are then paced by the shared per-minute quota and merging saves CPU for nothing lost.
  const textMergeWindow = () => Math.min(250, Math.max(50, renderHub.activeRuns * 10));
  const interactions = new InteractionBroker({
    feishu,
    logger,
    audit,
    allowlist,
    now: Date.now,
    settings: () => ({
      approvalTimeoutMs: config.approvals.timeoutSec * 1000,
      remindBeforeMs: config.approvals.remindBeforeSec * 1000,
      questionTimeoutMs: config.questions.timeoutSec * 1000,
      twoPersonInGroups: config.approvals.twoPersonInGroups,
      rulesFor: (workspacePath) => config.approvals.workspaces[workspacePath] ?? config.approvals.rules,
    }),
    starterOf: (scopeId, runId) => {
      const run = scopeActor(scopeId)?.getSnapshot().context.activeRun;
      return run?.runId === runId ? run.inputs[0] : undefined;
    },
    roleOf: (openId, chatId) => roleOf(policy(), openId, chatId),
    sign: (fields, ttlMs) => signAction(fields, ttlMs),
    firstUseOfNonce: (nonce) => ledger.firstSighting([`nonce:${nonce}`]),
    onOutcome: (event) =>
      event.of === 'approval'
        ? metrics.approvals.inc({ outcome: event.outcome })
        : metrics.questions.inc({ outcome: event.outcome }),
  });
  const scope = scopeMachine.provide({
    actors: {
      runner: createRunnerLogic({
        agent,
        now: Date.now,
        batchTextMs: textMergeWindow,
        interactions: (request) => interactions.forRun(request),
        // Every thread goes into the catalog under the policy it runs with, for /sessions and resume.
        onAgentEvent: (request, event) => {
          if (event.type !== 'session') return;
          const settings = {
            ...baseSettings,
            workspace: request.workspace,
            sandbox: request.sandbox,
            networkAccess: request.networkAccess,
          };
          catalog.record({
            scopeId: request.scopeId,
            cwd: request.workspace,
            policyFingerprint: fingerprintOf(request.scopeId, settings),
            threadId: event.sessionId,
            at: Date.now(),
            summary: request.prompt,
          });
          audit.record({
            actor: 'larkcode',
            scopeId: request.scopeId,
            action: 'run.start',
            decision: 'done',
            detail: { runId: request.runId, threadId: event.sessionId, sandbox: request.sandbox },
          });
        },
      }),
    },
    actions: {
      persistScope: (_, facts) => persistScope(facts),
      // Deferred so one actor's action never runs another actor's transitions re-entrantly;
      // microtasks keep the updates in order.
      renderRun: (_, { runId, update }) =>
        queueMicrotask(() => {
          countRun(runId, update);
          renderHub.update(runId, withUsageBaseline(update));
        }),
      notify: (_, notice) => notify(notice),
      reportInterruptedRun: (_, { scopeId, run }) => queueMicrotask(() => reportInterruptedRun(scopeId, run)),
    },
  });
  const supervisor = createActor(supervisorMachine.provide({ actors: { scope } }), {
    systemId: 'supervisor',
    input: { maxConcurrentRuns: config.runs.maxConcurrent },
    ...(options.inspect ? { inspect: options.inspect } : {}),
  });
  supervisor.subscribe({ error: (error) => logger.error({ err: error }, 'supervisor crashed') });
  supervisor.start();

  /**
   * The session a scope resumes: its own if it was recorded under today's policy; else the one
   * the catalog holds for exactly this policy; else none (a fresh thread). A changed profile
   * (access, CODEX_HOME…) therefore never resumes a thread made under another policy.
   */
  const sessionFor = (scopeId: string, record: ScopeRecord | undefined, settings: ScopeSettings) => {
    const fingerprint = fingerprintOf(scopeId, settings);
    if (record?.sessionId && (!record.sessionFingerprint || record.sessionFingerprint === fingerprint)) {
      return record.sessionId;
    }
    return catalog.find(scopeId, settings.workspace, fingerprint)?.threadId;
  };
  const seedFor = (scopeId: string): ScopeSeed => {
    const record = scopes.get(scopeId);
    const settings = { ...settingsFor(record, baseSettings), steerMidRun: steersMidRun(scopeId) };
    const sessionId = sessionFor(scopeId, record, settings);
    return {
      scopeId,
      settings,
      runIdPrefix: `r${randomBytes(4).toString('hex')}`,
      ...(sessionId ? { sessionId } : {}),
      ...(record?.pendingInputs.length ? { pendingInputs: record.pendingInputs } : {}),
      ...(record?.inflight ? { interruptedRun: record.inflight } : {}),
    };
  };

  // Scopes that had work pending or in flight when larkcode last stopped.
  for (const record of scopes.listActive()) {
    logger.info(
      {
        scopeId: record.scopeId,
        pending: record.pendingInputs.length,
        interrupted: Boolean(record.inflight),
      },
      'restoring scope',
    );
    supervisor.send({ type: 'scope.restore', seed: seedFor(record.scopeId) });
  }

  const policy = (): AccessPolicy => ({
    ...(config.owner ? { owner: config.owner } : {}),
    allowlist: config.allowlist,
    grants,
    requireMentionInGroups: config.groups.requireMention,
    requireMentionIn: requireMention,
  });
  if (!config.owner && config.allowlist.length === 0) {
    logger.warn('no owner and an empty allowlist: every message will be ignored');
  }

  const deliver = (input: MessageInput, event: ScopeBoundEvent) =>
    supervisor.send({ type: 'scope.deliver', scopeId: input.scopeId, event, seed: seedFor(input.scopeId) });

  const handleMessageEvent = async (raw: RawMessageEvent) => {
    const decision = await decideMessage(raw, {
      bot,
      policy,
      firstSighting: (keys) => ledger.firstSighting(keys),
      now: Date.now,
    });
    switch (decision.action) {
      case 'drop': {
        metrics.messagesDropped.inc({ reason: decision.reason });
        logger.debug({ messageId: decision.messageId, reason: decision.reason }, 'message dropped');
        const stranger = decision.stranger;
        if (
          stranger?.privateChat &&
          config.strangers.replyOnce &&
          ledger.firstSighting([`stranger:${stranger.openId}`])
        ) {
          await feishu.replyText(
            stranger.privateChat,
            'Sorry, this bot only works for people its owner has invited. Ask them to /invite you.',
          );
        }
        return;
      }
      case 'unsupported':
        logger.info(
          { scopeId: decision.scopeId, messageType: decision.messageType },
          'unsupported message type',
        );
        await feishu.replyText(
          decision.target,
          `Sorry, ${decision.messageType} messages are not supported yet. Send your request as text.`,
        );
        return;
      case 'input': {
        const { input } = decision;
        const parsed = parseInput(input.text);
        const role = roleOf(policy(), input.actorId, input.chat.chatId) ?? 'user';
        metrics.messagesAccepted.inc();
        logger.info(
          { scopeId: input.scopeId, messageId: input.messageId, actorId: input.actorId, kind: parsed.kind },
          'message accepted',
        );
        const runsAgent =
          parsed.kind === 'text' || parsed.kind === 'steer' || (parsed.kind === 'new' && parsed.prompt);
        if (
          runsAgent &&
          role !== 'owner' &&
          scopeState(input.scopeId).settings.sandbox === 'danger-full-access'
        ) {
          // Full access is the owner's alone: nobody else starts a run in a chat set to it.
          audit.record({
            actor: input.actorId,
            scopeId: input.scopeId,
            action: 'run.start',
            decision: 'denied',
            reason: 'full access is owner-only',
          });
          await feishu.replyText(
            decision.target,
            'This chat runs with full access: only the owner can start runs here.',
          );
          return;
        }
        if (parsed.kind === 'text') {
          // An open question in this scope takes the message as its answer.
          const answer = interactions.answerByMessage(input);
          if (answer) {
            if (answer.reply) await feishu.replyText(decision.target, answer.reply);
            return;
          }
        }
        if (runsAgent) reactions.acknowledge(input.messageId);
        if (parsed.kind === 'text') return deliver(input, { type: 'input.message', input });
        await runCommand(parsed, { input, target: decision.target, role }, commandDeps);
        return;
      }
    }
  };

  // Per chat, events are handled in arrival order even though the SDK runs handlers concurrently.
  const chatQueues = new Map<string, Promise<void>>();
  const onMessageEvent = (raw: unknown) => {
    lastEventAt = Date.now();
    const chatId = (raw as RawMessageEvent)?.message?.chat_id ?? '';
    const previous = chatQueues.get(chatId) ?? Promise.resolve();
    const next = previous
      .then(() => handleMessageEvent(raw as RawMessageEvent))
      .catch((error) => {
        metrics.failures.inc({ phase: 'feishu' });
        logger.error({ err: error, chatId }, 'message handling failed');
      })
      .finally(() => {
        if (chatQueues.get(chatId) === next) chatQueues.delete(chatId);
      });
    chatQueues.set(chatId, next);
  };

  const scopeState = (scopeId: string): ScopeState => {
    const live = scopeActor(scopeId)?.getSnapshot();
    if (live && live.status === 'active') {
      const { context } = live;
      return {
        settings: context.settings,
        ...(context.sessionId ? { sessionId: context.sessionId } : {}),
        ...(context.activeRun ? { activeRunId: context.activeRun.runId } : {}),
        running: context.activeRun !== undefined,
        pending: context.pendingInputs.length,
      };
    }
    const seed = seedFor(scopeId);
    return {
      settings: seed.settings,
      ...(seed.sessionId ? { sessionId: seed.sessionId } : {}),
      running: false,
      pending: seed.pendingInputs?.length ?? 0,
    };
  };
  /** A button's signed value under the scope's current policy (a day unless told otherwise). */
  const signAction = (fields: Omit<CallbackFields, 'policyFingerprint'>, ttlMs = 24 * 3_600_000) => ({
    ...signCallback(
      { ...fields, policyFingerprint: fingerprintOf(fields.scopeId, scopeState(fields.scopeId).settings) },
      { keys: callbackKeys, ttlMs },
    ),
  });
  const commandDeps: CommandDeps = {
    feishu,
    logger,
    audit: (record) => audit.record(record),
    agentName: agent.name,
    ...(agent.sessions ? { sessions: agent.sessions } : {}),
    ...(modelName(config) ? { model: modelName(config) } : {}),
    ...(config.owner ? { owner: config.owner } : {}),
    maxAccess: config.permissions.maxAccess,
    deliver,
    scopeState,
    defaultSettings: () => baseSettings,
    fingerprint: (scopeId, settings) => fingerprintOf(scopeId, { ...baseSettings, ...settings }),
    resolveWorkspace: (path, base) =>
      resolveWorkspace(path, {
        base,
        ...(config.permissions.allowedRoots.length ? { allowedRoots: config.permissions.allowedRoots } : {}),
      }),
    catalog,
    aliases,
    grants,
    signAction,
    connectionState: () => gateway.connectionState(),
    runningScopes: () =>
      [...supervisor.getSnapshot().context.liveScopes].flatMap((scopeId) => {
        const run = scopeActor(scopeId)?.getSnapshot().context.activeRun;
        return run
          ? [{ scopeId, runId: run.runId, ...(run.startedAt ? { startedAt: run.startedAt } : {}) }]
          : [];
      }),
    doctor: async () => doctorChecks(),
    exit: () => options.onExit?.(),
    reconnect: () => gateway.reconnect(),
    now: Date.now,
    coreSettings: (chatId) => ({
      debounceMs: baseSettings.debounceMs,
      idleTimeoutSec: Math.round(baseSettings.idleTimeoutMs / 1000),
      showReasoning: showReasoning(),
      defaultAccess: ACCESS_FOR_SANDBOX[baseSettings.sandbox],
      requireMention: requireMention(chatId),
      ...(agent.steer ? { midRunMessages: midRunMessages(chatId) } : {}),
    }),
    allowRules: (workspacePath) => allowlist.list(workspacePath),
    pendingPeople: (scopeId) => interactions.pendingIn(scopeId),
  };

  /** Give a live chat the settings it should have now (a busy one takes them when its run is over). */
  const catchUpSettings = (scopeId: string) => {
    const actor = scopeActor(scopeId);
    const live = actor?.getSnapshot();
    if (!actor || live?.status !== 'active') return;
    const seed = seedFor(scopeId);
    if (JSON.stringify(live.context.settings) === JSON.stringify(seed.settings)) return;
    actor.send({
      type: 'scope.configure',
      settings: seed.settings,
      ...(seed.sessionId ? { sessionId: seed.sessionId } : {}),
      note: 'Settings changed.',
    });
  };

  /** A /config choice: stored, then given to every live chat (busy ones apply it after their run). */
  const applyConfigChoice = (token: CallbackToken, operator: string): CardActionAnswer => {
    const [key, value] = (token.arg ?? '').split('=');
    const role = roleOf(policy(), operator, token.chatId);
    if (!role || !isAdmin(role)) return { toast: { type: 'error', content: 'Only admins change settings.' } };
    if (key === 'rule.remove' && value) {
      const workspacePath = scopeState(token.scopeId).settings.workspace;
      const removed = allowlist.remove(workspacePath, value);
      audit.record({
        actor: operator,
        scopeId: token.scopeId,
        action: 'approval.rule.remove',
        decision: removed ? 'done' : 'denied',
        detail: { workspace: workspacePath, rule: value },
      });
      return removed
        ? { toast: { type: 'success', content: 'Removed: that command asks for approval again.' } }
        : { toast: { type: 'info', content: 'That rule was already removed.' } };
    }
    if (key === 'defaultAccess' && !accessAllowed(role, value as AccessMode, config.permissions.maxAccess)) {
      return { toast: { type: 'error', content: `You may not make ${value} the default access.` } };
    }
    try {
      runtimeSettings.update((current) => {
        switch (key) {
          case 'debounceMs':
          case 'idleTimeoutSec':
            return { ...current, [key]: Number(value) };
          case 'showReasoning':
            return { ...current, showReasoning: value === 'true' };
          case 'defaultAccess':
            return { ...current, defaultAccess: value as AccessMode };
          case 'requireMention':
            return {
              ...current,
              groups: { ...current.groups, [token.chatId]: { requireMention: value === 'true' } },
            };
          case 'midRunMessages':
            if (value !== 'steer' && value !== 'queue')
              throw new LarkcodeError('config', `unknown value ${value}`);
            return { ...current, chats: { ...current.chats, [token.chatId]: { midRunMessages: value } } };
          default:
            throw new LarkcodeError('config', `unknown setting ${key}`);
        }
      });
    } catch (error) {
      return { toast: { type: 'error', content: error instanceof Error ? error.message : String(error) } };
    }
    baseSettings = profileSettings();
    for (const scopeId of supervisor.getSnapshot().context.liveScopes) catchUpSettings(scopeId);
    audit.record({
      actor: operator,
      scopeId: token.scopeId,
      action: 'policy.change',
      decision: 'done',
      detail: { setting: key, value },
    });
    return { toast: { type: 'success', content: `${key} set to ${value}. It applies from the next run.` } };
  };

  /** A confirmed choice from a card (resume a session, change the workspace). */
  const applyCardChoice = (token: CallbackToken, operator: string): CardActionAnswer => {
    const state = scopeState(token.scopeId);
    if (state.running)
      return {
        toast: { type: 'warning', content: 'A run is going: wait for it or /stop it, then try again.' },
      };
    const configure = ({ settings, sessionId, note }: ConfigurePlan) => {
      supervisor.send({
        type: 'scope.deliver',
        scopeId: token.scopeId,
        event: { type: 'scope.configure', settings, ...(sessionId ? { sessionId } : {}), note },
        seed: seedFor(token.scopeId),
      });
      void feishu
        .sendText(token.chatId, note)
        .catch((error) => logger.warn({ err: error }, 'notice not sent'));
    };
    const record = (
      action: string,
      decision: 'denied' | 'done',
      extra: { reason?: string; detail?: Record<string, unknown> },
    ) => audit.record({ actor: operator, scopeId: token.scopeId, action, decision, ...extra });
    if (token.action === 'config') return applyConfigChoice(token, operator);
    if (token.action === 'resume' && token.arg) {
      const entry = catalog.byThread(token.scopeId, token.arg);
      const plan = entry && resumePlan(token.scopeId, state.settings, entry, commandDeps);
      if (!plan) {
        record('card.resume', 'denied', { reason: 'session not resumable under this policy' });
        return {
          toast: {
            type: 'error',
            content: 'That session cannot be resumed under this chat’s current policy.',
          },
        };
      }
      record('card.resume', 'done', { detail: { threadId: token.arg } });
      configure(plan);
      return { toast: { type: 'success', content: 'Session resumed: your next message continues it.' } };
    }
    if (token.action === 'cd' && token.arg) {
      const [mode, ...rest] = token.arg.split('|');
      const role = roleOf(policy(), operator, token.chatId);
      if (!role || !isAdmin(role) || !accessAllowed(role, mode as AccessMode, config.permissions.maxAccess)) {
        record('card.cd', 'denied', { reason: `${mode} access not allowed for ${role ?? 'stranger'}` });
        return { toast: { type: 'error', content: `You may not set ${mode} access.` } };
      }
      let path: string;
      try {
        path = commandDeps.resolveWorkspace(rest.join('|'), state.settings.workspace);
      } catch (error) {
        return { toast: { type: 'error', content: error instanceof Error ? error.message : String(error) } };
      }
      const plan = workspacePlan(
        token.scopeId,
        state.settings,
        path,
        SANDBOX_FOR_ACCESS[mode as AccessMode],
        commandDeps,
      );
      record('policy.change', 'done', { detail: { workspace: path, sandbox: plan.settings.sandbox } });
      configure(plan);
      return { toast: { type: 'success', content: `Workspace set to ${path}.` } };
    }
    return {
      toast: { type: 'error', content: 'This button is not one larkcode can act on. Nothing was done.' },
    };
  };

  const doctorChecks = async () => [
    {
      name: 'Long connection',
      ok: gateway.connectionState() === 'connected',
      detail: gateway.connectionState(),
    },
    ...(await checkSetup(config, paths, {
      api,
      registryDir: defaultRegistryDir(env, env.HOME ?? homedir()),
    })),
  ];

  const gateway = new FeishuGateway({
    appId: config.appId,
    appSecret: config.appSecret,
    domain: config.domain,
    logger,
    ...(options.liveness ? { liveness: options.liveness } : {}),
  });
  const scopeActor = (scopeId: string) =>
    supervisor.system.get(scopeId) as ActorRefFrom<typeof scope> | undefined;
  const onCardAction = createCardActionHandler({
    keys: callbackKeys,
    logger,
    now: Date.now,
    isAdmin: (openId) => openId === config.owner || grants.roleOf(openId) === 'admin',
    firstUseOfNonce: (nonce) => ledger.firstSighting([`nonce:${nonce}`]),
    currentPolicyFingerprint: (scopeId) => fingerprintOf(scopeId, scopeState(scopeId).settings),
    activeRunId: (scopeId) => scopeActor(scopeId)?.getSnapshot().context.activeRun?.runId,
    stopRun: (scopeId) => scopeActor(scopeId)?.send({ type: 'control.stop' }),
    audit: (record) => {
      if (record.decision === 'denied') metrics.callbackDenials.inc({ reason: record.reason ?? 'unknown' });
      audit.record(record);
    },
    configure: (token, operator) => applyCardChoice(token, operator),
    interact: (token, operator) => interactions.handleAction(token, operator),
  });

  await gateway.start({ onMessageEvent, onCardAction, onReconnecting: () => metrics.reconnects.inc() });
  const healthServer = config.health.enabled
    ? await startHealthServer({
        host: config.health.host,
        port: config.health.port,
        logger,
        metrics: () => metrics.render(),
        health: () =>
          composeHealthReport({
            connectionState: gateway.connectionState(),
            ...(lastEventAt !== undefined ? { lastEventAt } : {}),
            agent: agentCheck,
            startedAt,
          }),
      })
    : undefined;
  if (healthServer) logger.info({ url: healthServer.url }, 'metrics and health served');
  logger.info({ bot: bot.name, botOpenId: bot.openId, workspace, agent: agent.name }, 'ready');

  let stopping: Promise<void> | undefined;
  return {
    botOpenId: bot.openId,
    stop: (deadlineMs = 4000) => {
      stopping ??= (async () => {
        const deadline = Date.now() + deadlineMs;
        logger.info('shutting down');
        clearInterval(keyRotation);
        await healthServer?.close();
        gateway.stop();
        await Promise.allSettled(chatQueues.values());
        interactions.closeAll();
        supervisor.send({ type: 'daemon.shutdown', at: Date.now() });
        await renderHub.settle(Math.max(0, deadline - Date.now()));
        await effects.settle(Math.max(0, deadline - Date.now()));
        await audit.flush().catch(() => {});
        // A long-lived agent process (codex app-server) is told to exit with larkcode.
        await (agent as { close?: () => Promise<void> }).close?.().catch(() => {});
        await Promise.race([reactions.settled(), sleep(Math.max(0, deadline - Date.now()))]);
        renderHub.stopAll();
        // No supervisor.stop(): every scope already reached its final state on daemon.shutdown
        // (timers cancelled, runners aborted), and stopping the root would stop its children
        // one by one, each copying the children map — quadratic, ~1.7 s for 1,000 scopes.
        await scopes.flush();
        ledger.close();
        logger.info('stopped');
      })();
      return stopping;
    },
  };
}

function settingsFor(record: ScopeRecord | undefined, base: ScopeSettings): ScopeSettings {
  const overrides = record?.settings;
  if (!overrides) return base;
  return {
    ...base,
    ...(overrides.idleTimeoutSec ? { idleTimeoutMs: overrides.idleTimeoutSec * 1000 } : {}),
    ...(overrides.workspace ? { workspace: overrides.workspace } : {}),
    ...(overrides.sandbox ? { sandbox: overrides.sandbox } : {}),
  };
}

/** Merge a scope's current facts into its stored record. */
function toRecord(
  record: ScopeRecord,
  facts: ScopeFacts,
  base: ScopeSettings,
  cardsByRun: Map<string, RunCardHandle>,
  fingerprint: (facts: ScopeFacts) => string,
): ScopeRecord {
  const { idleTimeoutSec: _t, workspace: _w, sandbox: _s, ...otherSettings } = record.settings;
  // Only what differs from the profile is stored, so a changed profile still reaches the chat.
  const settings = {
    ...otherSettings,
    ...(facts.idleTimeoutMs === base.idleTimeoutMs
      ? {}
      : { idleTimeoutSec: Math.round(facts.idleTimeoutMs / 1000) }),
    ...(facts.workspace === base.workspace ? {} : { workspace: facts.workspace }),
    ...(facts.sandbox === base.sandbox ? {} : { sandbox: facts.sandbox }),
  };
  const card = facts.inflight ? cardsByRun.get(facts.inflight.runId) : undefined;
  const {
    sessionId: _oldSession,
    sessionFingerprint: _oldFingerprint,
    inflight: _oldInflight,
    ...rest
  } = record;
  return {
    ...rest,
    ...(facts.sessionId ? { sessionId: facts.sessionId, sessionFingerprint: fingerprint(facts) } : {}),
    settings,
    pendingInputs: facts.pendingInputs,
    ...(facts.inflight ? { inflight: { ...facts.inflight, ...(card ? cardFields(card) : {}) } } : {}),
    // Stamped by the store, and only when something else changed: unchanged facts write nothing.
    updatedAt: record.updatedAt,
  };
}

/** The model a card names: `codex.model`, else the `model` override in `codex.config`. */
function modelName(config: LarkcodeConfig): string | undefined {
  const fromConfig = (config.codex.config as { model?: unknown }).model;
  return config.codex.model ?? (typeof fromConfig === 'string' ? fromConfig : undefined);
}

function cardFields(card: RunCardHandle) {
  return {
    cardMessageId: card.messageId,
    ...(card.cardId ? { cardId: card.cardId, cardCreatedAt: card.cardCreatedAt ?? 0 } : {}),
  };
}

/** `inherit-user` runs codex with your own ~/.codex (its login); otherwise larkcode's own. */
function codexHomeFor(config: LarkcodeConfig, paths: LarkcodePaths, env: NodeJS.ProcessEnv): string {
  if (config.codex.home) return config.codex.home;
  if (config.codex.auth === 'inherit-user') return join(env.HOME ?? homedir(), '.codex');
  return paths.defaultCodexHome;
}

function createCodexRunner(
  config: LarkcodeConfig,
  paths: LarkcodePaths,
  env: NodeJS.ProcessEnv,
  logger: Logger,
): AgentRunner {
  const codexHome = codexHomeFor(config, paths, env);
  mkdirSync(`${codexHome}/tmp`, { recursive: true, mode: 0o700 });
  const leftovers = killLeftoverCodex(codexHome);
  if (leftovers.length > 0)
    logger.warn({ pids: leftovers }, 'killed codex processes left by a previous larkcode');
  const configuredKey = config.codex.apiKey
    ? resolveSecret(config.codex.apiKey, secretContext(env, paths.stateDir))
    : undefined;
  // Without a configured key, a key in larkcode's own environment is handed to codex only.
  const apiKey = configuredKey ?? env.CODEX_API_KEY ?? env.OPENAI_API_KEY;
  const codexConfig = config.codex.config as Record<string, unknown>;
  const common = {
    codexHome,
    childEnv: codexChildEnvironment(env, { codexHome, passKeys: providerKeyNames(codexConfig) }),
    ...(apiKey ? { apiKey } : {}),
    ...(config.codex.model ? { model: config.codex.model } : {}),
    ...(config.codex.path ? { codexPath: config.codex.path } : {}),
  };
  if (config.codex.backend === 'app-server') {
    // Questions (request_user_input) are off in codex's default mode unless this feature is on.
    const features = (codexConfig.features ?? {}) as Record<string, unknown>;
    return new CodexAppServerRunner({
      ...common,
      // …and without a warning about it on the first card of every session (the user's own setting wins).
      config: {
        suppress_unstable_features_warning: true,
        ...codexConfig,
        features: { default_mode_request_user_input: true, ...features },
      },
      approvalPolicy: config.approvals.policy,
      maxQuestionsPerTurn: config.questions.maxPerTurn,
      // For thread/backgroundTerminals/clean: Stop ends the commands a turn started, as with the sdk.
      experimentalApi: true,
    });
  }
  return new CodexSdkRunner({ ...common, config: codexConfig as never });
}

/** `chat:oc_x` and `topic:oc_x:thread` → `oc_x`. */
function chatIdOfScope(scopeId: string): string {
  return scopeId.split(':')[1] ?? '';
}
