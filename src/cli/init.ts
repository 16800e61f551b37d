import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { Keystore } from '../config/keystore.js';
import { loadConfig } from '../config/load.js';
import type { LarkcodePaths } from '../config/paths.js';
import { isReference } from '../config/secrets.js';
import { LarkcodeError } from '../core/errors.js';
import { resolveWorkspace } from '../policy/workspace.js';

/** What `larkcode init` asks for; each may come from a flag instead. */
export interface InitAnswers {
  appId?: string;
  /** The secret itself (stored in the keystore) or a reference (`env:`, `file:`, `exec:`, `keystore:`). */
  appSecret?: string;
  domain?: string;
  owner?: string;
  workspace?: string;
  allowedRoots?: string[];
  auth?: 'api-key' | 'codex-home' | 'inherit-user';
  /** For `api-key`: a reference, or the key itself (stored in the keystore). */
  apiKey?: string;
}

const QUESTIONS: { key: keyof InitAnswers; ask: string; required: boolean }[] = [
  { key: 'appId', ask: 'App ID (cli_…, from the developer console)', required: true },
  { key: 'appSecret', ask: 'App secret (or env:NAME / file:/path / exec:command)', required: true },
  { key: 'domain', ask: 'Domain: feishu or lark [feishu]', required: false },
  { key: 'owner', ask: 'Your open id (ou_…); the owner may do everything', required: true },
  { key: 'workspace', ask: 'Default workspace (a project directory)', required: true },
  {
    key: 'allowedRoots',
    ask: 'Allowed workspace roots, comma-separated (empty: any safe directory)',
    required: false,
  },
  {
    key: 'auth',
    ask: 'Agent auth: api-key, codex-home (codex login for larkcode) or inherit-user (your ~/.codex) [api-key]',
    required: false,
  },
  {
    key: 'apiKey',
    ask: 'API key for the agent (or env:NAME / file:/path / exec:command) [env:OPENAI_API_KEY]',
    required: false,
  },
];

/**
 * Write a profile's config.json from answers (flags, or questions when interactive). Secrets are
 * stored by reference: one typed in goes into the profile's encrypted keystore and the config
 * says `keystore:<name>`. The result is validated by loading it, secrets resolved.
 */
export async function runInit(
  paths: LarkcodePaths,
  given: InitAnswers,
  options: {
    interactive: boolean;
    force: boolean;
    env: NodeJS.ProcessEnv;
    input?: NodeJS.ReadableStream;
    output?: NodeJS.WritableStream;
  },
): Promise<string> {
  if (existsSync(paths.configFile) && !options.force) {
    throw new LarkcodeError('config', `${paths.configFile} already exists; pass --force to replace it`);
  }
  const answers: InitAnswers = { ...given };
  if (options.interactive) {
    const output = options.output ?? process.stdout;
    const rl = createInterface({ input: options.input ?? process.stdin, terminal: false });
    // Read through the line iterator, not rl.question: with piped answers, lines that arrive
    // before a question is asked would otherwise be dropped.
    const lines = rl[Symbol.asyncIterator]();
    try {
      for (const question of QUESTIONS) {
        if (answers[question.key] !== undefined) continue;
        if (question.key === 'apiKey' && (answers.auth ?? 'api-key') !== 'api-key') continue;
        output.write(`${question.ask}: `);
        const next = await lines.next();
        if (next.done) break;
        const reply = String(next.value).trim();
        if (!reply) continue;
        if (question.key === 'allowedRoots')
          answers.allowedRoots = reply
            .split(',')
            .map((r) => r.trim())
            .filter(Boolean);
        else (answers as Record<string, unknown>)[question.key] = reply;
      }
    } finally {
      rl.close();
    }
  }
  const missing = QUESTIONS.filter((q) => q.required && answers[q.key] === undefined).map(
    (q) => `--${kebab(q.key)}`,
  );
  if (missing.length > 0) {
    throw new LarkcodeError(
      'config',
      `larkcode init needs ${missing.join(', ')} (or run it in a terminal to be asked)`,
    );
  }
  const auth = answers.auth ?? 'api-key';
  if (!['api-key', 'codex-home', 'inherit-user'].includes(auth)) {
    throw new LarkcodeError('config', `auth must be api-key, codex-home or inherit-user, not "${auth}"`);
  }
  const workspace = resolveWorkspace(answers.workspace!, {
    ...(answers.allowedRoots?.length ? { allowedRoots: answers.allowedRoots } : {}),
  });

  mkdirSync(paths.stateDir, { recursive: true, mode: 0o700 });
  let keystore: Keystore | undefined;
  const byReference = (value: string, name: string) => {
    if (isReference(value)) return value;
    keystore ??= Keystore.open(paths.stateDir, {
      ...(options.env.LARKCODE_KEYSTORE_PASSPHRASE
        ? { passphrase: options.env.LARKCODE_KEYSTORE_PASSPHRASE }
        : {}),
    });
    keystore.set(name, value);
    return `keystore:${name}`;
  };

  const config = {
    appId: answers.appId,
    appSecret: byReference(answers.appSecret!, 'feishu-app-secret'),
    domain: answers.domain ?? 'feishu',
    owner: answers.owner,
    workspace,
    permissions: { allowedRoots: answers.allowedRoots ?? [] },
    codex: {
      auth,
      ...(auth === 'api-key'
        ? { apiKey: byReference(answers.apiKey ?? 'env:OPENAI_API_KEY', 'agent-api-key') }
        : {}),
    },
  };
  mkdirSync(dirname(paths.configFile), { recursive: true, mode: 0o700 });
  writeFileSync(paths.configFile, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  // Proves the file loads and its app secret resolves; a bad answer is reported now, not at start.
  loadConfig(paths.configFile, options.env, paths.stateDir);
  return paths.configFile;
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
