import type { Logger } from 'pino';
import type { ScopeSettings } from '../../machines/scope.machine.js';
import type { ScopeBoundEvent } from '../../machines/supervisor.machine.js';
import type { AgentSessions, SandboxMode } from '../agents/types.js';
import { callbackButton, inlineCode } from '../cards/markdown.js';
import { formatElapsed } from '../cards/run-card.js';
import { COMMANDS, type CommandGroup, commandInfo, type ParsedInput } from '../commands/parse.js';
import type { AccessMode } from '../config/schema.js';
import type { MessageInput } from '../core/bridge-input.js';
import { LarkcodeError } from '../core/errors.js';
import type { FeishuPort, ReplyTarget } from '../feishu/port.js';
import { isAdmin, mayUse, type Role } from '../policy/access.js';
import type { CallbackFields } from '../security/callback-token.js';
import type { AccessList } from '../store/access-list.js';
import type { SessionCatalog, SessionEntry } from '../store/session-catalog.js';
import type { WorkspaceAliases } from '../store/workspace-aliases.js';

export const SANDBOX_FOR_ACCESS: Record<AccessMode, SandboxMode> = {
  'read-only': 'read-only',
  workspace: 'workspace-write',
  full: 'danger-full-access',
};

export const ACCESS_FOR_SANDBOX: Record<SandboxMode, AccessMode> = {
  'read-only': 'read-only',
  'workspace-write': 'workspace',
  'danger-full-access': 'full',
};

const ACCESS_ORDER: readonly AccessMode[] = ['read-only', 'workspace', 'full'];

/** One decision worth keeping: who, where, what, allowed or not, and why. */
export interface AuditRecord {
  actor: string;
  scopeId?: string;
  action: string;
  decision: 'allowed' | 'denied' | 'done';
  reason?: string;
  detail?: Record<string, unknown>;
}

/** What a scope looks like right now (live actor, or its stored record). */
export interface ScopeState {
  settings: ScopeSettings;
  sessionId?: string;
  activeRunId?: string;
  running: boolean;
  pending: number;
}

export interface CommandDeps {
  feishu: FeishuPort;
  logger: Logger;
  audit: (record: AuditRecord) => void;
  agentName: string;
  /** Fork and archive, where the agent keeps sessions it can copy (Codex app-server). */
  sessions?: AgentSessions;
  model?: string;
  owner?: string;
  maxAccess: AccessMode;
  deliver: (input: MessageInput, event: ScopeBoundEvent) => void;
  scopeState: (scopeId: string) => ScopeState;
  /** The settings a scope gets with no overrides (workspace and access reset). */
  defaultSettings: (scopeId: string) => ScopeSettings;
  fingerprint: (
    scopeId: string,
    settings: Pick<ScopeSettings, 'workspace' | 'sandbox' | 'networkAccess'>,
  ) => string;
  resolveWorkspace: (path: string, base: string) => string;
  catalog: SessionCatalog;
  aliases: WorkspaceAliases;
  grants: AccessList;
  /** Signs a button's callback value for this scope's current policy. */
  signAction: (fields: Omit<CallbackFields, 'policyFingerprint'>) => Record<string, unknown>;
  connectionState: () => string;
  runningScopes: () => { scopeId: string; runId: string; startedAt?: number }[];
  doctor: () => Promise<{ name: string; ok: boolean; detail: string }[]>;
  exit: () => void;
  reconnect: () => void;
  now: () => number;
  /** The core settings /config shows and changes (config file, then changes made from chat). */
  coreSettings: (chatId: string) => CoreSettings;
  /** "Always allow" rules of a workspace (approval cards add them; /config lists and removes them). */
  /** Approvals and questions open in a scope. */
  pendingPeople?: (scopeId: string) => { approvals: number; questions: number };
  allowRules?: (workspace: string) => { id: string; prefix: string[]; addedBy: string; addedAt: number }[];
}

export interface CoreSettings {
  debounceMs: number;
  idleTimeoutSec: number;
  showReasoning: boolean;
  defaultAccess: AccessMode;
  /** For this chat when it is a group (its own rule or the default). */
  requireMention: boolean;
  /** For this chat; absent when the agent cannot steer (messages always queue then). */
  midRunMessages?: 'steer' | 'queue';
}

export interface CommandContext {
  input: MessageInput;
  target: ReplyTarget;
  role: Role;
}

/** Run a parsed command for someone in a scope. Every decision is audited. */
export async function runCommand(
  parsed: Exclude<ParsedInput, { kind: 'text' }>,
  ctx: CommandContext,
  deps: CommandDeps,
) {
  const { input, role } = ctx;
  const reply = (text: string) => deps.feishu.replyText(ctx.target, text);
  const replyCard = (card: Record<string, unknown>) => deps.feishu.replyCard(ctx.target, card);
  const audit = (decision: AuditRecord['decision'], reason?: string, detail?: Record<string, unknown>) =>
    deps.audit({
      actor: input.actorId,
      scopeId: input.scopeId,
      action: `command./${parsed.kind}`,
      decision,
      ...(reason ? { reason } : {}),
      ...(detail ? { detail } : {}),
    });

  if (parsed.kind === 'invalid') {
    audit('denied', 'invalid arguments');
    return reply(parsed.reply);
  }
  const info = commandInfo(parsed.kind);
  if (!mayUse(role, info)) {
    audit('denied', `${info.usage.split(' ')[0]} needs an admin; ${input.actorId} is a ${role}`);
    return reply(`${info.usage.split(' ')[0]} is for admins. Ask the owner or an admin.`);
  }
  const deliver = (event: ScopeBoundEvent) => deps.deliver(input, event);
  const state = () => deps.scopeState(input.scopeId);

  switch (parsed.kind) {
    case 'stop':
      audit('allowed');
      return deliver({ type: 'control.stop', origin: input });
    case 'steer':
      audit('allowed');
      return deliver({ type: 'control.steer', input: { ...input, text: parsed.text } });
    case 'new':
      audit('allowed');
      deliver({ type: 'control.new', origin: input });
      if (parsed.prompt) deliver({ type: 'input.message', input: { ...input, text: parsed.prompt } });
      return;
    case 'timeout':
      audit('allowed', undefined, parsed.seconds !== undefined ? { seconds: parsed.seconds } : undefined);
      return deliver({
        type: 'control.timeout',
        origin: input,
        ...(parsed.seconds !== undefined ? { seconds: parsed.seconds } : {}),
      });
    case 'reset': {
      if (state().running) {
        audit('denied', 'a run is going');
        return reply('A run is going: /stop it first, then /reset.');
      }
      const settings = deps.defaultSettings(input.scopeId);
      audit('done', undefined, { workspace: settings.workspace, sandbox: settings.sandbox });
      return configure(
        settings,
        undefined,
        `Reset: a fresh session in ${settings.workspace} with ${accessLabel(settings.sandbox)}.`,
      );
    }
    case 'sessions':
      audit('allowed');
      return replyCard(sessionsCard(input.scopeId, deps, false));
    case 'resume':
      audit('allowed');
      return replyCard(sessionsCard(input.scopeId, deps, true, input.actorId, input.chat.chatId));
    case 'fork':
    case 'archive':
      return sessionOperation(parsed.kind);
    case 'switch': {
      const entry = deps.catalog.forScope(input.scopeId)[parsed.index - 1];
      if (!entry) {
        audit('denied', `no session ${parsed.index}`);
        return reply(`There is no session ${parsed.index} in this chat. /sessions lists them.`);
      }
      return switchTo(entry);
    }
    case 'cd': {
      let path: string;
      try {
        path = deps.resolveWorkspace(parsed.path, state().settings.workspace);
      } catch (error) {
        audit('denied', messageOf(error), { path: parsed.path });
        return reply(messageOf(error));
      }
      audit('allowed', 'confirmation asked', { path });
      return replyCard(cdConfirmCard(input, path, role, deps));
    }
    case 'ws':
      return workspaces(parsed);
    case 'status':
      audit('allowed');
      return replyCard(statusCard(input.scopeId, deps));
    case 'help':
      audit('allowed');
      return reply(helpText(role));
    case 'invite':
    case 'remove':
      return grant(parsed.kind, parsed.role);
    case 'ps': {
      audit('allowed');
      const runs = deps.runningScopes();
      if (runs.length === 0) return reply('Nothing is running.');
      const lines = runs.map(
        (r) =>
          `• ${r.scopeId} — run ${r.runId}${r.startedAt ? `, ${formatElapsed(deps.now() - r.startedAt)}` : ', waiting to start'}`,
      );
      return reply(`${runs.length} run${runs.length === 1 ? '' : 's'}:\n${lines.join('\n')}`);
    }
    case 'doctor': {
      audit('allowed');
      const checks = await deps.doctor();
      const lines = checks.map((c) => `${c.ok ? '✅' : '❌'} ${c.name}: ${c.detail}`);
      const healthy = checks.every((c) => c.ok);
      return reply(`${healthy ? 'All checks passed.' : 'Some checks failed.'}\n${lines.join('\n')}`);
    }
    case 'reconnect':
      audit('done');
      await reply('Reconnecting to Feishu…');
      return deps.reconnect();
    case 'exit':
      audit('done');
      await reply('Stopping larkcode. Runs in flight are reported interrupted; queued messages are kept.');
      return deps.exit();
    case 'config':
      audit('allowed');
      return replyCard(configCard(input, role, deps));
  }

  function configure(settings: ScopeSettings, sessionId: string | undefined, note: string) {
    deliver({ type: 'scope.configure', settings, ...(sessionId ? { sessionId } : {}), note, origin: input });
  }

  /** /fork: the next message continues in a copy. /archive: the session is put away, the next message starts fresh. */
  async function sessionOperation(kind: 'fork' | 'archive') {
    const sessions = deps.sessions;
    if (!sessions) {
      audit('denied', 'agent cannot');
      return reply(
        `/${kind} needs an agent that keeps its sessions (codex.backend: app-server); ${deps.agentName} cannot.`,
      );
    }
    const current = state();
    if (!current.sessionId) {
      audit('denied', 'no session');
      return reply(`This chat has no session yet: send a message first, then /${kind} it.`);
    }
    if (current.running) {
      audit('denied', 'a run is going');
      return reply(`A run is going: wait for it or /stop it, then /${kind}.`);
    }
    const settings = current.settings;
    try {
      if (kind === 'fork') {
        const forkId = await sessions.fork(current.sessionId, settings);
        deps.catalog.record({
          scopeId: input.scopeId,
          cwd: settings.workspace,
          policyFingerprint: deps.fingerprint(input.scopeId, settings),
          threadId: forkId,
          at: deps.now(),
          summary: `fork of ${current.sessionId.slice(0, 8)}`,
        });
        audit('done', undefined, { from: current.sessionId, threadId: forkId });
        return configure(
          settings,
          forkId,
          `Forked: your next message continues in a copy of this session (${forkId.slice(0, 8)}). The original is unchanged; /sessions lists both.`,
        );
      }
      await sessions.archive(current.sessionId);
      deps.catalog.archive(input.scopeId, current.sessionId);
      audit('done', undefined, { threadId: current.sessionId });
      deliver({ type: 'control.new' });
      return reply(`Archived session ${current.sessionId.slice(0, 8)}: the next message starts a fresh one.`);
    } catch (error) {
      audit('denied', messageOf(error));
      return reply(`Could not ${kind} the session: ${messageOf(error)}`);
    }
  }

  function switchTo(entry: SessionEntry) {
    const plan = resumePlan(input.scopeId, state().settings, entry, deps);
    if (!plan) {
      audit('denied', 'session made under another policy', { threadId: entry.threadId });
      return reply(
        `That session was started with other access or agent settings than this chat has now, so it is not resumed (a changed policy never continues an old session). /new starts a fresh one.`,
      );
    }
    audit('done', undefined, { threadId: entry.threadId, cwd: entry.cwd });
    configure(plan.settings, plan.sessionId, plan.note);
  }

  function workspaces(ws: Extract<ParsedInput, { kind: 'ws' }>) {
    try {
      switch (ws.op) {
        case 'list': {
          audit('allowed');
          const list = deps.aliases.list();
          const current = state().settings.workspace;
          const lines = list.map((a) => `• ${a.alias} → ${a.path}${a.path === current ? ' (current)' : ''}`);
          return reply(
            `Workspace of this chat: ${current}\n${lines.length ? lines.join('\n') : 'No named workspaces yet: /ws add <alias> <path>.'}`,
          );
        }
        case 'add': {
          const path = deps.resolveWorkspace(ws.path, state().settings.workspace);
          const added = deps.aliases.add(ws.alias, path);
          audit('done', undefined, { alias: added.alias, path });
          return reply(`Added workspace ${added.alias} → ${path}. Use it with /ws use ${added.alias}.`);
        }
        case 'use': {
          const path = deps.aliases.get(ws.alias);
          if (!path) {
            audit('denied', `unknown alias ${ws.alias}`);
            return reply(`No workspace named ${ws.alias}. /ws lists them.`);
          }
          const resolved = deps.resolveWorkspace(path, state().settings.workspace);
          if (state().running) {
            audit('denied', 'a run is going');
            return reply('A run is going: wait for it to finish or /stop it, then try again.');
          }
          audit('done', undefined, { alias: ws.alias, path: resolved });
          return moveTo(resolved, state().settings.sandbox);
        }
        case 'rm': {
          const removed = deps.aliases.remove(ws.alias);
          audit(removed ? 'done' : 'denied', removed ? undefined : `unknown alias ${ws.alias}`);
          return reply(removed ? `Removed workspace ${ws.alias}.` : `No workspace named ${ws.alias}.`);
        }
      }
    } catch (error) {
      audit('denied', messageOf(error));
      return reply(messageOf(error));
    }
  }

  function moveTo(path: string, sandbox: SandboxMode) {
    const plan = workspacePlan(input.scopeId, state().settings, path, sandbox, deps);
    configure(plan.settings, plan.sessionId, plan.note);
  }

  function grant(kind: 'invite' | 'remove', what: 'user' | 'admin' | 'group') {
    if (what === 'admin' && role !== 'owner') {
      audit('denied', 'only the owner grants admin');
      return reply('Only the owner can make or remove admins.');
    }
    if (what === 'group') {
      if (input.chat.chatType !== 'group') {
        audit('denied', 'not in a group');
        return reply(`Send /${kind} group in the group itself.`);
      }
      const changed =
        kind === 'invite'
          ? deps.grants.add('group', input.chat.chatId, input.actorId, deps.now())
          : deps.grants.remove('group', input.chat.chatId);
      audit(changed ? 'done' : 'denied', changed ? undefined : 'no change', { chatId: input.chat.chatId });
      return reply(
        kind === 'invite'
          ? changed
            ? 'Everyone in this group may now use the bot (mention it to talk to it).'
            : 'This group may already use the bot.'
          : changed
            ? 'This group may no longer use the bot (people invited one by one still may).'
            : 'This group was not invited.',
      );
    }
    const people = input.mentions ?? [];
    if (people.length === 0) {
      audit('denied', 'nobody mentioned');
      return reply(`Mention the people: /${kind} ${what} @someone`);
    }
    const done: string[] = [];
    for (const person of people) {
      if (person.openId === deps.owner) continue;
      const changed =
        kind === 'invite'
          ? deps.grants.add(what, person.openId, input.actorId, deps.now())
          : deps.grants.remove(what, person.openId);
      if (changed) done.push(person.name || person.openId);
    }
    audit('done', undefined, { role: what, people: people.map((p) => p.openId) });
    if (done.length === 0) return reply('Nothing changed.');
    return reply(
      kind === 'invite'
        ? `${done.join(', ')} may now use the bot as ${what}.`
        : `Removed ${what}: ${done.join(', ')}.`,
    );
  }
}

/** What a chat changes to: its next run's settings, the session it continues, and what to tell it. */
export interface ConfigurePlan {
  settings: ScopeSettings;
  sessionId?: string;
  note: string;
}

/** Continue a catalog session (in its directory) — only if it was made under this chat's policy. */
export function resumePlan(
  scopeId: string,
  current: ScopeSettings,
  entry: SessionEntry,
  deps: Pick<CommandDeps, 'fingerprint'>,
): ConfigurePlan | undefined {
  const settings = { ...current, workspace: entry.cwd };
  if (deps.fingerprint(scopeId, settings) !== entry.policyFingerprint) return undefined;
  return {
    settings,
    sessionId: entry.threadId,
    note: `Continuing session "${entry.summary ?? entry.threadId}" in ${entry.cwd}.`,
  };
}

/** A new directory and access: the session last used under exactly that policy, or a fresh one. */
export function workspacePlan(
  scopeId: string,
  current: ScopeSettings,
  path: string,
  sandbox: SandboxMode,
  deps: Pick<CommandDeps, 'fingerprint' | 'catalog'>,
): ConfigurePlan {
  const settings = { ...current, workspace: path, sandbox };
  const session = deps.catalog.find(scopeId, path, deps.fingerprint(scopeId, settings));
  const access = accessLabel(sandbox);
  return {
    settings,
    ...(session ? { sessionId: session.threadId } : {}),
    note: session
      ? `Workspace is now ${path} (${access}); continuing the session last used there.`
      : `Workspace is now ${path} (${access}); the next message starts a new Codex session.`,
  };
}

/** The highest access a role may give a chat, within the profile's maximum. */
export function accessAllowed(role: Role, mode: AccessMode, maxAccess: AccessMode): boolean {
  if (mode === 'full' && role !== 'owner') return false;
  return ACCESS_ORDER.indexOf(mode) <= ACCESS_ORDER.indexOf(maxAccess) || role === 'owner';
}

export function accessLabel(sandbox: SandboxMode): string {
  return `${ACCESS_FOR_SANDBOX[sandbox]} access`;
}

function messageOf(error: unknown): string {
  if (error instanceof LarkcodeError) return error.message;
  return error instanceof Error ? error.message : String(error);
}

// ── cards and texts ─────────────────────────────────────────────────────────────────────────

type Card = Record<string, unknown>;

function card(title: string, template: string, elements: Card[]): Card {
  return {
    schema: '2.0',
    config: { update_multi: true, summary: { content: title } },
    header: { title: { tag: 'plain_text', content: title }, template },
    body: { elements },
  };
}

const button = callbackButton;

function ago(deps: CommandDeps, at: number): string {
  return `${formatElapsed(deps.now() - at)} ago`;
}

function sessionsCard(
  scopeId: string,
  deps: CommandDeps,
  withButtons: boolean,
  actor?: string,
  chatId?: string,
): Card {
  const state = deps.scopeState(scopeId);
  const entries = deps.catalog.forScope(scopeId).slice(0, 10);
  if (entries.length === 0) {
    return card('Sessions', 'grey', [
      { tag: 'markdown', content: 'No sessions in this chat yet: send a message to start one.' },
    ]);
  }
  const elements: Card[] = [];
  entries.forEach((entry, i) => {
    const current = entry.threadId === state.sessionId;
    const compatible =
      deps.fingerprint(scopeId, { ...state.settings, workspace: entry.cwd }) === entry.policyFingerprint;
    const line = `**${i + 1}.** ${current ? '▶ ' : ''}${entry.summary ?? '(no summary)'}\n📁 ${entry.cwd} · last used ${ago(deps, entry.lastUsedAt)}${compatible ? '' : ' · _other access: not resumable now_'}`;
    elements.push({ tag: 'markdown', content: line });
    if (withButtons && !current && compatible && actor && chatId) {
      elements.push(
        button(
          `Resume ${i + 1}`,
          deps.signAction({
            runId: '-',
            scopeId,
            chatId,
            operatorOpenId: actor,
            action: 'resume',
            arg: entry.threadId,
          }),
          'primary',
        ),
      );
    }
  });
  elements.push({
    tag: 'markdown',
    text_size: 'notation',
    content: 'Continue one with /switch <n>, or /new for a fresh one.',
  });
  return card(withButtons ? 'Resume a session' : 'Sessions', 'blue', elements);
}

function cdConfirmCard(input: MessageInput, path: string, role: Role, deps: CommandDeps): Card {
  const current = deps.scopeState(input.scopeId).settings;
  const sign = (mode: AccessMode) =>
    deps.signAction({
      runId: '-',
      scopeId: input.scopeId,
      chatId: input.chat.chatId,
      operatorOpenId: input.actorId,
      action: 'cd',
      arg: `${mode}|${path}`,
    });
  const currentMode = ACCESS_FOR_SANDBOX[current.sandbox];
  const buttons: Card[] = [button(`Confirm (${currentMode} access)`, sign(currentMode), 'primary')];
  for (const mode of ACCESS_ORDER) {
    if (mode !== currentMode && accessAllowed(role, mode, deps.maxAccess)) {
      buttons.push(button(`Confirm with ${mode} access`, sign(mode), mode === 'full' ? 'danger' : 'default'));
    }
  }
  return card('Change workspace?', 'orange', [
    {
      tag: 'markdown',
      content: `**New workspace:** ${path}\n**Now:** ${current.workspace} (${currentMode} access)\nNetwork: ${current.networkAccess ? 'on' : 'off'}. The agent will work in the new directory from the next message.`,
    },
    ...buttons,
  ]);
}

function statusCard(scopeId: string, deps: CommandDeps): Card {
  const state = deps.scopeState(scopeId);
  const lines = [
    `**Workspace:** ${state.settings.workspace}`,
    `**Access:** ${accessLabel(state.settings.sandbox)} (sandbox ${state.settings.sandbox}), network ${state.settings.networkAccess ? 'on' : 'off'}`,
    `**Agent:** ${deps.agentName}${deps.model ? ` · ${deps.model}` : ''}`,
    `**Session:** ${state.sessionId ?? 'none yet (the next message starts one)'}`,
    `**Run:** ${state.running ? `going (${state.activeRunId})` : 'none'} · **queued messages:** ${state.pending}`,
    ...waitingOnPeople(scopeId, deps),
    `**Idle timeout:** ${Math.round(state.settings.idleTimeoutMs / 1000)} s`,
    `**Connection to Feishu:** ${deps.connectionState()}`,
  ];
  return card('Status', 'blue', [{ tag: 'markdown', content: lines.join('\n') }]);
}

/** Open approvals and questions: what the run is waiting for. */
function waitingOnPeople(scopeId: string, deps: CommandDeps): string[] {
  const open = deps.pendingPeople?.(scopeId);
  if (!open || open.approvals + open.questions === 0) return [];
  const parts = [
    ...(open.approvals ? [`${open.approvals} approval${open.approvals === 1 ? '' : 's'}`] : []),
    ...(open.questions ? [`${open.questions} question${open.questions === 1 ? '' : 's'}`] : []),
  ];
  return [`**Waiting for you:** ${parts.join(' and ')} (see the cards above)`];
}

export function helpText(role: Role): string {
  const groups = new Map<CommandGroup, string[]>();
  for (const command of COMMANDS) {
    if (!mayUse(role, command)) continue;
    const list = groups.get(command.group) ?? [];
    list.push(`${command.usage} — ${command.summary}`);
    groups.set(command.group, list);
  }
  const sections = [...groups].map(([group, lines]) => `${group}\n${lines.map((l) => `  ${l}`).join('\n')}`);
  const footer = isAdmin(role) ? '' : '\n(Some commands are for admins only.)';
  return `Anything else you send goes to the agent; a /command that is not listed here too.\n\n${sections.join('\n\n')}${footer}`;
}

/** Choices /config offers, as `key=value` (the signed argument of each button). */
export const CONFIG_CHOICES = {
  debounceMs: ['500', '800', '2000'],
  idleTimeoutSec: ['300', '600', '1800'],
  showReasoning: ['true', 'false'],
  defaultAccess: ['read-only', 'workspace', 'full'],
  requireMention: ['true', 'false'],
  midRunMessages: ['steer', 'queue'],
} as const;

const CONFIG_LABELS: Record<keyof typeof CONFIG_CHOICES, { title: string; value: (v: string) => string }> = {
  debounceMs: { title: 'Quiet window before a run', value: (v) => `${Number(v) / 1000} s` },
  idleTimeoutSec: { title: 'Idle timeout', value: (v) => `${Number(v) / 60} min` },
  showReasoning: { title: 'Reasoning on run cards', value: (v) => (v === 'true' ? 'show' : 'hide') },
  defaultAccess: { title: 'Default access', value: (v) => v },
  requireMention: {
    title: 'In groups, answer only when mentioned',
    value: (v) => (v === 'true' ? 'yes' : 'no'),
  },
  midRunMessages: {
    title: 'A message sent during a run',
    value: (v) => (v === 'steer' ? 'joins the run' : 'waits for the next run'),
  },
};

function configCard(input: MessageInput, role: Role, deps: CommandDeps): Card {
  const current = deps.coreSettings(input.chat.chatId);
  const elements: Card[] = [];
  for (const key of Object.keys(CONFIG_CHOICES) as (keyof typeof CONFIG_CHOICES)[]) {
    if (key === 'requireMention' && input.chat.chatType !== 'group') continue;
    if (key === 'midRunMessages' && current.midRunMessages === undefined) continue;
    const label = CONFIG_LABELS[key];
    const now = String(current[key]);
    elements.push({
      tag: 'markdown',
      content: `**${label.title}:** ${label.value(now)}${key === 'requireMention' || key === 'midRunMessages' ? ' (this chat)' : ''}`,
    });
    const buttons = CONFIG_CHOICES[key]
      .filter((v) => key !== 'defaultAccess' || accessAllowed(role, v as AccessMode, deps.maxAccess))
      .map((v) =>
        button(
          `${v === now ? '✓ ' : ''}${label.value(v)}`,
          signConfigChoice(input, deps, `${key}=${v}`),
          v === now ? 'primary' : 'default',
        ),
      );
    elements.push({
      tag: 'column_set',
      flex_mode: 'flow',
      columns: buttons.map((b) => ({ tag: 'column', width: 'auto', elements: [b] })),
    });
  }
  elements.push(...allowRuleElements(input, deps));
  elements.push({
    tag: 'markdown',
    text_size: 'notation',
    content: `Agent: ${deps.agentName}${deps.model ? ` · ${deps.model}` : ''} · maximum access: ${deps.maxAccess}. Changes apply to the next run in every chat and are kept across restarts.`,
  });
  return card('Settings', 'blue', elements);
}

/** A /config button's signed value: `arg` is the `key=value` it sets. */
function signConfigChoice(input: MessageInput, deps: CommandDeps, arg: string): Record<string, unknown> {
  return deps.signAction({
    runId: '-',
    scopeId: input.scopeId,
    chatId: input.chat.chatId,
    operatorOpenId: input.actorId,
    action: 'config',
    arg,
  });
}

/** The workspace's "always allow" rules, each with a Remove button. */
function allowRuleElements(input: MessageInput, deps: CommandDeps): Card[] {
  if (!deps.allowRules) return [];
  const workspace = deps.scopeState(input.scopeId).settings.workspace;
  const rules = deps.allowRules(workspace);
  const elements: Card[] = [
    {
      tag: 'markdown',
      content:
        rules.length === 0
          ? `**Always allowed in ${inlineCode(workspace)}:** nothing yet (an approval card's "Always allow" adds a command here).`
          : `**Always allowed in ${inlineCode(workspace)}:**`,
    },
  ];
  for (const rule of rules.slice(0, 30)) {
    elements.push({
      tag: 'column_set',
      flex_mode: 'flow',
      columns: [
        {
          tag: 'column',
          width: 'weighted',
          weight: 3,
          elements: [{ tag: 'markdown', content: `${inlineCode(rule.prefix.join(' '))} …` }],
        },
        {
          tag: 'column',
          width: 'auto',
          elements: [button('Remove', signConfigChoice(input, deps, `rule.remove=${rule.id}`), 'danger')],
        },
      ],
    });
  }
  return elements;
}
