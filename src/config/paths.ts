import { homedir } from 'node:os';
import { join } from 'node:path';
import { LarkcodeError } from '../core/errors.js';

/** Where a profile keeps its config and state. Everything lives under LARKCODE_HOME when it is set. */
export interface LarkcodePaths {
  profile: string;
  configFile: string;
  stateDir: string;
  logDir: string;
  defaultCodexHome: string;
}

export const DEFAULT_PROFILE = 'default';
const PROFILE_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;

/**
 * A profile isolates app credentials, agent settings, state, logs and the session catalog. The
 * default profile keeps the plain layout (`config.json`, `state/`); others live under
 * `profiles/<name>/` next to it.
 */
export function resolvePaths(env: NodeJS.ProcessEnv = process.env, profile = DEFAULT_PROFILE): LarkcodePaths {
  if (!PROFILE_NAME.test(profile)) {
    throw new LarkcodeError(
      'config',
      `profile "${profile}" is not a valid name: use a-z, 0-9, - and _ (up to 32)`,
    );
  }
  const named = profile !== DEFAULT_PROFILE;
  const home = env.LARKCODE_HOME;
  let configDir: string;
  let stateDir: string;
  if (home) {
    configDir = named ? join(home, 'profiles', profile) : home;
    stateDir = join(configDir, 'state');
  } else {
    const userHome = env.HOME ?? homedir();
    const baseConfig = join(env.XDG_CONFIG_HOME ?? join(userHome, '.config'), 'larkcode');
    const baseState = join(env.XDG_STATE_HOME ?? join(userHome, '.local', 'state'), 'larkcode');
    configDir = named ? join(baseConfig, 'profiles', profile) : baseConfig;
    stateDir = named ? join(baseState, 'profiles', profile) : baseState;
  }
  return {
    profile,
    configFile: join(configDir, 'config.json'),
    stateDir,
    logDir: join(stateDir, 'logs'),
    defaultCodexHome: join(stateDir, 'codex-home'),
  };
}
