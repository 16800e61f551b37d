import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import pino from 'pino';
import { loadConfig, secretContext } from '../config/load.js';
import type { LarkcodePaths } from '../config/paths.js';
import type { LarkcodeConfig } from '../config/schema.js';
import { isReference, resolveSecret } from '../config/secrets.js';
import { LarkcodeError } from '../core/errors.js';
import { FeishuApi } from '../feishu/api.js';
import { FeishuApiError } from '../feishu/errors.js';
import { validateWorkspace } from '../policy/workspace.js';
import { listRunning } from './instance-lock.js';

export interface DoctorCheck {
  name: string;
  ok: boolean;
  /** What was found, and when not ok, what to do about it. */
  detail: string;
}

/**
 * Preflight for one profile: each check says what it found and, when it fails, how to fix it.
 * Checks never stop at the first failure: a person fixing a setup wants the whole list.
 */
export async function runDoctor(
  paths: LarkcodePaths,
  options: { env: NodeJS.ProcessEnv; registryDir: string },
): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  let config: LarkcodeConfig;
  try {
    config = loadConfig(paths.configFile, options.env, paths.stateDir);
    checks.push({ name: 'Config', ok: true, detail: paths.configFile });
  } catch (error) {
    checks.push({ name: 'Config', ok: false, detail: messageOf(error) });
    return checks;
  }

  const api = new FeishuApi(
    { appId: config.appId, appSecret: config.appSecret, domain: config.domain },
    pino({ level: 'silent' }),
  );
  checks.push(...(await checkSetup(config, paths, { api, registryDir: options.registryDir })));
  return checks;
}

/** The checks after the config loaded; `/doctor` in chat runs the same ones inside the daemon. */
export async function checkSetup(
  config: LarkcodeConfig,
  paths: LarkcodePaths,
  options: { api: FeishuApi; registryDir: string },
): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const { api } = options;
  try {
    const bot = await api.botIdentity();
    checks.push({ name: 'Feishu credentials and bot', ok: true, detail: `token issued; bot "${bot.name}"` });
  } catch (error) {
    checks.push({
      name: 'Feishu credentials and bot',
      ok: false,
      detail: `${messageOf(error)} — check appId/appSecret and the domain (feishu or lark), and that the app has the Bot capability and a published version`,
    });
  }
  checks.push(await cardkitCheck(api));
  checks.push(
    await scopeProbe(api, 'Sending and replying (im:message:send_as_bot)', 'im.message.create', () =>
      api.client.im.v1.message.create({
        params: { receive_id_type: 'chat_id' },
        data: {
          receive_id: 'oc_larkcode_doctor_probe',
          msg_type: 'text',
          content: JSON.stringify({ text: 'probe' }),
        },
      }),
    ),
  );
  checks.push(
    await scopeProbe(api, 'Reactions (im:message.reactions:write_only)', 'im.messageReaction.create', () =>
      api.client.im.v1.messageReaction.create({
        path: { message_id: 'om_larkcode_doctor_probe' },
        data: { reaction_type: { emoji_type: 'OnIt' } },
      }),
    ),
  );
  checks.push({
    name: 'Card button callbacks',
    ok: true,
    detail:
      'cannot be checked from here: in the developer console, Events & Callbacks → Callback configuration must use the long connection and subscribe card.action.trigger; without it every button press shows Feishu error 200340',
  });
  checks.push(codexCheck(config));
  checks.push(agentAuthCheck(config, paths));
  try {
    checks.push({ name: 'Workspace', ok: true, detail: validateWorkspace(config.workspace) });
  } catch (error) {
    checks.push({
      name: 'Workspace',
      ok: false,
      detail: `${messageOf(error)} — set "workspace" to a project directory`,
    });
  }
  try {
    mkdirSync(paths.stateDir, { recursive: true, mode: 0o700 });
    accessSync(paths.stateDir, constants.W_OK);
    checks.push({ name: 'State directory', ok: true, detail: `${paths.stateDir} is writable` });
  } catch {
    checks.push({
      name: 'State directory',
      ok: false,
      detail: `${paths.stateDir} is not writable — fix its owner or mode`,
    });
  }
  const running = listRunning(options.registryDir).filter((p) => p.appId === config.appId);
  checks.push({
    name: 'Running larkcode',
    ok: true,
    detail:
      running.length === 0
        ? 'none for this app'
        : running.map((p) => `pid ${p.pid} (profile ${p.profile}, since ${p.startedAt})`).join('; '),
  });
  return checks;
}

/**
 * Whether the app holds a scope, without side effects: the call targets a chat or message that
 * does not exist, so it cannot succeed — but Feishu checks scopes first, so a missing scope
 * answers 99991672 while a present one answers "not found" (or similar).
 */
async function scopeProbe(
  api: FeishuApi,
  name: string,
  apiName: string,
  call: () => Promise<{ code?: number; msg?: string }>,
): Promise<DoctorCheck> {
  try {
    await api.call(apiName, call, undefined, { retry: false });
    return { name, ok: true, detail: 'granted' };
  } catch (error) {
    if (error instanceof FeishuApiError && error.code === 99991672) {
      return {
        name,
        ok: false,
        detail: 'scope missing — add it in the developer console and publish a new version',
      };
    }
    if (error instanceof FeishuApiError && error.failure === 'auth') {
      return { name, ok: false, detail: messageOf(error) };
    }
    return { name, ok: true, detail: 'granted (probed with a chat that does not exist)' };
  }
}

/** Creating a card entity needs cardkit:card:write; without it run cards fall back to plain cards. */
async function cardkitCheck(api: FeishuApi): Promise<DoctorCheck> {
  const name = 'CardKit (streaming run cards)';
  try {
    await api.call('cardkit.card.create', () =>
      api.client.cardkit.v1.card.create({
        data: {
          type: 'card_json',
          data: JSON.stringify({
            schema: '2.0',
            body: { elements: [{ tag: 'markdown', content: 'larkcode doctor' }] },
          }),
        },
      }),
    );
    return { name, ok: true, detail: 'a test card entity was created (it is never sent)' };
  } catch (error) {
    const missingScope = error instanceof FeishuApiError && error.failure === 'permission';
    return {
      name,
      ok: false,
      detail: missingScope
        ? 'the app lacks cardkit:card:write — add it and publish a new version (cards still work, updated every 1.5 s)'
        : messageOf(error),
    };
  }
}

/** The agent's credentials as configured: a key reference that resolves, or a login to use. */
function agentAuthCheck(config: LarkcodeConfig, paths: LarkcodePaths): DoctorCheck {
  const name = 'Agent credentials';
  const mode = config.codex.auth ?? (config.codex.apiKey ? 'api-key' : 'codex-home');
  if (mode === 'api-key') {
    if (!config.codex.apiKey) {
      return {
        name,
        ok: false,
        detail:
          'codex.auth is api-key but codex.apiKey is not set — add a reference such as file:/path or keystore:name',
      };
    }
    try {
      resolveSecret(config.codex.apiKey, secretContext(process.env, paths.stateDir));
      const source = isReference(config.codex.apiKey)
        ? `the ${config.codex.apiKey.split(':')[0]}: reference, which resolves`
        : 'a literal in config.json (safer: a file:, exec: or keystore: reference)';
      return { name, ok: true, detail: `API key from ${source}; it is not shown` };
    } catch (error) {
      return { name, ok: false, detail: messageOf(error) };
    }
  }
  const home =
    mode === 'inherit-user' ? join(homedir(), '.codex') : (config.codex.home ?? paths.defaultCodexHome);
  const loggedIn = existsSync(join(home, 'auth.json'));
  return {
    name,
    ok: loggedIn,
    detail: loggedIn
      ? `codex login found in ${home}`
      : `no codex login in ${home} — run CODEX_HOME=${home} codex login, or set codex.apiKey`,
  };
}

export function codexCheck(config: LarkcodeConfig): DoctorCheck {
  const name = 'Codex binary';
  try {
    const bin = config.codex.path ?? bundledCodex();
    const args = bin.endsWith('.js') ? [bin, '--version'] : ['--version'];
    const version = execFileSync(bin.endsWith('.js') ? process.execPath : bin, args, {
      encoding: 'utf8',
      timeout: 10_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
    const auth = config.codex.apiKey ? 'API key from config' : 'CODEX_HOME login or OPENAI_API_KEY';
    return { name, ok: true, detail: `${version} (${bin}); auth: ${auth}` };
  } catch (error) {
    return { name, ok: false, detail: `${messageOf(error)} — install @openai/codex or set codex.path` };
  }
}

function bundledCodex(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@openai/codex/package.json')), 'bin', 'codex.js');
}

function messageOf(error: unknown): string {
  if (error instanceof LarkcodeError) return error.message;
  return error instanceof Error ? error.message.split('\n')[0]! : String(error);
}

export function formatChecks(checks: DoctorCheck[]): string {
  return checks.map((c) => `${c.ok ? '✅' : '❌'} ${c.name}: ${c.detail}`).join('\n');
}
