import { Codex, type CodexOptions, type ThreadOptions } from '@openai/codex-sdk';
import { type AgentEvent, type AgentRunner, type RunRequest, RunStopped } from '../types.js';
import { translateCodexEvent } from './translate.js';

export interface CodexSdkRunnerOptions {
  /** Isolated CODEX_HOME for this profile: thread state lives here, resume needs the same one. */
  codexHome: string;
  /** `--config` overrides passed to codex (model, provider, features …). */
  config?: CodexOptions['config'];
  /** API key, injected into the codex child only (as CODEX_API_KEY). */
  apiKey?: string;
  model?: string;
  codexPath?: string;
  /** Environment the child gets; the SDK does not inherit process.env when env is set. */
  childEnv: Record<string, string>;
}

/**
 * Codex through `@openai/codex-sdk` (`codex exec`): one child process per turn,
 * thread resumed by id. No approvals and no token deltas on this backend.
 */
export class CodexSdkRunner implements AgentRunner {
  readonly name = 'codex-sdk';
  readonly #codex: Codex;

  constructor(private readonly options: CodexSdkRunnerOptions) {
    this.#codex = new Codex({
      env: { ...options.childEnv, CODEX_HOME: options.codexHome },
      ...(options.apiKey ? { apiKey: options.apiKey } : {}),
      ...(options.config ? { config: options.config } : {}),
      ...(options.codexPath ? { codexPathOverride: options.codexPath } : {}),
    });
  }

  async *run(request: RunRequest, signal: AbortSignal): AsyncIterable<AgentEvent> {
    const threadOptions: ThreadOptions = {
      workingDirectory: request.workspace,
      skipGitRepoCheck: true,
      sandboxMode: request.sandbox,
      networkAccessEnabled: request.networkAccess,
      // exec never asks; larkcode decides policy before the run starts.
      approvalPolicy: 'never',
      ...(this.options.model ? { model: this.options.model } : {}),
    };
    const thread = request.sessionId
      ? this.#codex.resumeThread(request.sessionId, threadOptions)
      : this.#codex.startThread(threadOptions);

    // The SDK ties the child process to this signal; once the turn is over, a late abort would
    // make the already-exiting child emit an unhandled 'error'. So link, and unlink when done.
    const childAbort = new AbortController();
    const forwardAbort = () => childAbort.abort(signal.reason);
    if (signal.aborted) forwardAbort();
    else signal.addEventListener('abort', forwardAbort, { once: true });

    let finished = false;
    try {
      const { events } = await thread.runStreamed(request.prompt, { signal: childAbort.signal });
      for await (const codexEvent of events) {
        for (const event of translateCodexEvent(codexEvent)) {
          if (event.type === 'session' && request.sessionId && event.sessionId !== request.sessionId) {
            // A non-UUID or unknown id makes codex silently start a new thread.
            yield {
              type: 'notice',
              message: `previous session ${request.sessionId} was not found; started a new one`,
            };
          }
          if (event.type === 'done') {
            if (finished) continue;
            finished = true;
          }
          yield event;
        }
        // React to turn.completed at once; the process may linger 20–80 ms before exit.
        if (finished) return;
      }
      if (!finished) {
        finished = true;
        yield { type: 'done', outcome: 'failed', error: 'codex exited without finishing the turn' };
      }
    } catch (error) {
      if (finished) return;
      finished = true;
      if (signal.aborted) {
        const reason = signal.reason instanceof RunStopped ? signal.reason.reason : 'interrupted';
        yield { type: 'done', outcome: reason };
        return;
      }
      yield { type: 'done', outcome: 'failed', error: describeCodexError(error) };
    } finally {
      signal.removeEventListener('abort', forwardAbort);
    }
  }
}

/** Codex errors carry stderr noise ("Reading prompt from stdin..."); keep the meaningful tail. */
export function describeCodexError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const lines = message
    .split('\n')
    .map((line) => line.trim())
    .filter(
      (line) =>
        line && !line.startsWith('Reading prompt from stdin') && !line.startsWith('WARNING: proceeding'),
    );
  return lines.join('\n').slice(0, 2000) || 'codex failed';
}
