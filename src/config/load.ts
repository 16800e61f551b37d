import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { LarkcodeError } from '../core/errors.js';
import { configSchema, type LarkcodeConfig } from './schema.js';

/**
 * Read and validate config.json, with FEISHU_APP_ID / FEISHU_APP_SECRET /
 * FEISHU_DOMAIN overriding the file. Every problem names the key.
 */
export function loadConfig(configFile: string, env: NodeJS.ProcessEnv = process.env): LarkcodeConfig {
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
  return parsed.data;
}

/** `env:NAME` reads the variable; anything else is the literal value. */
export function resolveSecret(
  value: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (value === undefined) return undefined;
  if (value.startsWith('env:')) {
    const name = value.slice(4);
    const resolved = env[name];
    if (!resolved)
      throw new LarkcodeError('config', `secret reference ${value}: environment variable ${name} is not set`);
    return resolved;
  }
  return value;
}
