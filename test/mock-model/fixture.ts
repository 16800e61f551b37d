import { Codex, type Thread } from '@openai/codex-sdk';
import {
  codexChildEnv,
  codexProviderConfig,
  makeCodexHome,
  makeWorkspace,
} from '../support/codex-harness.js';
import type { MockModel } from '../support/mock-model/index.js';

export interface CodexRun {
  codex: Codex;
  codexHome: string;
  workspace: string;
  startThread(): Thread;
  cleanup(): Promise<void>;
}

/** A Codex bound to `mock`, with its own CODEX_HOME and workspace. */
export async function setupCodexRun(mock: MockModel): Promise<CodexRun> {
  const home = await makeCodexHome();
  const workspace = await makeWorkspace();
  const codex = new Codex({
    apiKey: 'sk-test',
    env: codexChildEnv(home.codexHome),
    config: codexProviderConfig(mock.baseUrl),
  });
  return {
    codex,
    codexHome: home.codexHome,
    workspace: workspace.dir,
    startThread: () =>
      codex.startThread({
        workingDirectory: workspace.dir,
        skipGitRepoCheck: true,
        sandboxMode: 'workspace-write',
        approvalPolicy: 'never',
      }),
    async cleanup() {
      await Promise.all([home.cleanup(), workspace.cleanup()]);
    },
  };
}

/** Per-turn guard so a wedged codex fails the test instead of hanging it. */
export function turnGuard(ms = 15_000): AbortSignal {
  return AbortSignal.timeout(ms);
}
