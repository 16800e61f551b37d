import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { z } from 'zod';
import { LarkcodeError } from '../core/errors.js';
import { Keystore } from './keystore.js';
import { configSchema, type LarkcodeConfig } from './schema.js';
import { resolveSecret, type SecretContext } from './secrets.js';

/**
 * Read and validate config.json, with FEISHU_APP_ID / FEISHU_APP_SECRET /
 * FEISHU_DOMAIN overriding the file. Every problem names the key.
 */
export function loadConfig(
  configFile: string,
  env: NodeJS.ProcessEnv = process.env,
  stateDir?: string,
): LarkcodeConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(configFile, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new LarkcodeError(
        'config',
        `no config file at ${configFile} — create it (see README "Configuration")`,
      );
    }
    throw new LarkcodeError('config', `${configFile} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new LarkcodeError('config', `${configFile} must contain a JSON object`);
  }
  const merged: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  if (env.FEISHU_APP_ID) merged.appId = env.FEISHU_APP_ID;
  if (env.FEISHU_APP_SECRET) merged.appSecret = env.FEISHU_APP_SECRET;
  if (env.FEISHU_DOMAIN) merged.domain = env.FEISHU_DOMAIN;

  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    throw new LarkcodeError('config', `invalid config ${configFile}:\n${z.prettifyError(parsed.error)}`);
  }
  // The app secret is needed by larkcode itself, so it is resolved now; the agent's API key is
  // resolved when the agent is set up, and goes only into its child process.
  return { ...parsed.data, appSecret: resolveSecret(parsed.data.appSecret, secretContext(env, stateDir)) };
}

/**
 * What secret references resolve against: the environment, the home directory (`file:~/…`) and,
 * opened only when a `keystore:` reference asks for it, the profile's keystore
 * (passphrase from LARKCODE_KEYSTORE_PASSPHRASE, else its key file).
 */
export function secretContext(env: NodeJS.ProcessEnv, stateDir?: string): SecretContext {
  let keystore: Keystore | undefined;
  return {
    env,
    home: env.HOME ?? homedir(),
    ...(stateDir
      ? {
          keystore: {
            get: (name: string) => {
              keystore ??= Keystore.open(stateDir, {
                ...(env.LARKCODE_KEYSTORE_PASSPHRASE ? { passphrase: env.LARKCODE_KEYSTORE_PASSPHRASE } : {}),
              });
              return keystore.get(name);
            },
          },
        }
      : {}),
  };
}
