import { mkdirSync } from 'node:fs';
import type { Logger } from 'pino';
import { createActor } from 'xstate';
import { createRunnerLogic } from '../../machines/runner.js';
import { type ScopeSettings, scopeMachine } from '../../machines/scope.machine.js';
import { supervisorMachine } from '../../machines/supervisor.machine.js';
import { codexChildEnvironment, providerKeyNames } from '../agents/codex-sdk/env.js';
import { CodexSdkRunner } from '../agents/codex-sdk/runner.js';
import type { AgentRunner, SandboxMode } from '../agents/types.js';
import { resolveSecret } from '../config/load.js';
import type { LarkcodePaths } from '../config/paths.js';
import type { AccessMode, LarkcodeConfig } from '../config/schema.js';
import { FeishuApi } from '../feishu/api.js';
import { FeishuGateway } from '../feishu/gateway.js';
import { decideMessage, type RawMessageEvent } from '../feishu/intake.js';
import { createFeishuPort } from '../feishu/outbound.js';
import type { FeishuPort } from '../feishu/port.js';
import { validateWorkspace } from '../policy/workspace.js';
import { DedupLedger } from '../store/dedup-ledger.js';
import { SessionStore } from '../store/session-store.js';
import { EffectTracker } from './effects.js';
import { publishRunResult } from './publish-run.js';

export interface DaemonOptions {
  config: LarkcodeConfig;
  paths: LarkcodePaths;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  /** Replace the agent backend (tests use a scripted runner). */
  agent?: AgentRunner;
}

export interface Daemon {
  readonly botOpenId: string;
  /** Stop taking input, report runs in flight as interrupted, flush, disconnect. */
  stop(deadlineMs?: number): Promise<void>;
}

const SANDBOX_FOR_ACCESS: Record<AccessMode, SandboxMode> = {
  'read-only': 'read-only',
  workspace: 'workspace-write',
  full: 'danger-full-access',
};

/** The composition root: the only place that wires real I/O into the machines. */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const { config, paths, logger } = options;
  const env = options.env ?? process.env;
  const workspace = validateWorkspace(config.workspace);
  mkdirSync(paths.stateDir, { recursive: true, mode: 0o700 });

  const sessions = new SessionStore(paths.stateDir);
  const ledger = new DedupLedger(paths.stateDir);
  const api = new FeishuApi(
    { appId: config.appId, appSecret: config.appSecret, domain: config.domain },
    logger,
  );
  const feishu: FeishuPort = createFeishuPort(api);
  const bot = await api.botIdentity();
  const agent = options.agent ?? createCodexRunner(config, paths, env);
  const effects = new EffectTracker(logger);

  const defaultSettings: ScopeSettings = {
    workspace,
    sandbox: SANDBOX_FOR_ACCESS[config.permissions.defaultAccess],
    networkAccess: config.permissions.networkAccess,
  };

  const runner = createRunnerLogic({
    agent,
    now: Date.now,
    onAgentEvent: (request, event) => {
      // Persist the thread id the moment it exists: a crash mid-turn must not lose it.
      if (event.type === 'session') sessions.set(request.scopeId, event.sessionId);
    },
  });
  const scope = scopeMachine.provide({
    actors: { runner },
    actions: {
      publishRunResult: (_, params) => {
        effects.track(
          `publish ${params.run.runId}`,
          publishRunResult(params.run, { feishu, logger, agentName: agent.name }),
        );
      },
    },
  });
  const supervisor = createActor(supervisorMachine.provide({ actors: { scope } }));
  supervisor.subscribe({ error: (error) => logger.error({ err: error }, 'supervisor crashed') });
  supervisor.start();

  const policy = () => ({
    ...(config.owner ? { owner: config.owner } : {}),
    allowlist: config.allowlist,
    requireMentionInGroups: config.groups.requireMention,
  });
  if (!config.owner && config.allowlist.length === 0) {
    logger.warn('no owner and an empty allowlist: every message will be ignored');
  }

  // Per chat, events are processed in arrival order even though the SDK runs handlers concurrently.
  const chatQueues = new Map<string, Promise<void>>();
  const handleMessageEvent = async (raw: RawMessageEvent) => {
    const decision = await decideMessage(raw, {
      bot,
      policy,
      firstSighting: (keys) => ledger.firstSighting(keys),
      now: Date.now,
    });
    switch (decision.action) {
      case 'drop':
        logger.debug({ messageId: decision.messageId, reason: decision.reason }, 'message dropped');
        return;
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
        logger.info(
          { scopeId: input.scopeId, messageId: input.messageId, actorId: input.actorId },
          'message accepted',
        );
        const sessionId = sessions.get(input.scopeId);
        supervisor.send({
          type: 'input.received',
          input,
          seed: { scopeId: input.scopeId, settings: defaultSettings, ...(sessionId ? { sessionId } : {}) },
        });
      }
    }
  };
  const onMessageEvent = (raw: unknown) => {
    const chatId = (raw as RawMessageEvent)?.message?.chat_id ?? '';
    const previous = chatQueues.get(chatId) ?? Promise.resolve();
    const next = previous
      .then(() => handleMessageEvent(raw as RawMessageEvent))
      .catch((error) => logger.error({ err: error, chatId }, 'message handling failed'))
      .finally(() => {
        if (chatQueues.get(chatId) === next) chatQueues.delete(chatId);
      });
    chatQueues.set(chatId, next);
  };

  const gateway = new FeishuGateway({
    appId: config.appId,
    appSecret: config.appSecret,
    domain: config.domain,
    logger,
  });
  await gateway.start({ onMessageEvent });
  logger.info({ bot: bot.name, botOpenId: bot.openId, workspace, agent: agent.name }, 'ready');

  let stopping: Promise<void> | undefined;
  return {
    botOpenId: bot.openId,
    stop: (deadlineMs = 4000) => {
      stopping ??= (async () => {
        logger.info('shutting down');
        gateway.stop();
        await Promise.allSettled(chatQueues.values());
        supervisor.send({ type: 'daemon.shutdown', at: Date.now() });
        await effects.settle(deadlineMs);
        supervisor.stop();
        logger.info('stopped');
      })();
      return stopping;
    },
  };
}

function createCodexRunner(
  config: LarkcodeConfig,
  paths: LarkcodePaths,
  env: NodeJS.ProcessEnv,
): AgentRunner {
  const codexHome = config.codex.home ?? paths.defaultCodexHome;
  mkdirSync(`${codexHome}/tmp`, { recursive: true, mode: 0o700 });
  const configuredKey = resolveSecret(config.codex.apiKey, env);
  // Without a configured key, a key in larkcode's own environment is handed to codex only.
  const apiKey = configuredKey ?? env.CODEX_API_KEY ?? env.OPENAI_API_KEY;
  const codexConfig = config.codex.config as Record<string, unknown>;
  return new CodexSdkRunner({
    codexHome,
    childEnv: codexChildEnvironment(env, { codexHome, passKeys: providerKeyNames(codexConfig) }),
    config: codexConfig as never,
    ...(apiKey ? { apiKey } : {}),
    ...(config.codex.model ? { model: config.codex.model } : {}),
    ...(config.codex.path ? { codexPath: config.codex.path } : {}),
  });
}
