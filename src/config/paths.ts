import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where a profile keeps its config and state. Everything lives under LARKCODE_HOME when it is set. */
export interface LarkcodePaths {
  configFile: string;
  stateDir: string;
  defaultCodexHome: string;
}

export function resolvePaths(env: NodeJS.ProcessEnv = process.env): LarkcodePaths {
  const home = env.LARKCODE_HOME;
  if (home) {
    const stateDir = join(home, 'state');
    return {
      configFile: join(home, 'config.json'),
      stateDir,
      defaultCodexHome: join(stateDir, 'codex-home'),
    };
  }
  const userHome = env.HOME ?? homedir();
  const configDir = join(env.XDG_CONFIG_HOME ?? join(userHome, '.config'), 'larkcode');
  const stateDir = join(env.XDG_STATE_HOME ?? join(userHome, '.local', 'state'), 'larkcode');
  return {
    configFile: join(configDir, 'config.json'),
    stateDir,
    defaultCodexHome: join(stateDir, 'codex-home'),
  };
}
