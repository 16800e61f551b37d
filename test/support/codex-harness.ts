// Helpers to run the real codex binary (through @openai/codex-sdk) against the mock model, offline.
// Recipe and reasons: /work/shared/research/codex-offline.md §3 and §12.
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Input, Thread, ThreadEvent, ThreadItem, TurnOptions } from '@openai/codex-sdk';

export {
  type CodexConfig,
  type CodexProviderOptions,
  codexProviderConfig,
} from '../../src/playground/mock-model/codex-provider.js';

/** Codex's own scratch dir inside CODEX_HOME; see codexChildEnv for why TMPDIR points here. */
const childTmpDirName = '.tmp';

/** An empty, isolated CODEX_HOME (thread state lives here: resume needs the same one). */
export async function makeCodexHome(
  root: string = tmpdir(),
): Promise<{ codexHome: string; cleanup(): Promise<void> }> {
  const codexHome = await mkdtemp(join(root, 'larkcode-codex-home-'));
  mkdirSync(join(codexHome, childTmpDirName));
  return { codexHome, cleanup: () => rm(codexHome, { recursive: true, force: true }) };
}

/**
 * The complete child environment (the SDK's `env` replaces process.env; it adds CODEX_API_KEY from `apiKey`).
 * TMPDIR points inside CODEX_HOME: codex refuses to create its PATH helper aliases under the temp dir and
 * prints a warning on every run (it lands in every thrown error); with TMPDIR elsewhere it is silent.
 */
export function codexChildEnv(codexHome: string): Record<string, string> {
  const tmp = join(codexHome, childTmpDirName);
  mkdirSync(tmp, { recursive: true });
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: process.env.HOME ?? codexHome,
    CODEX_HOME: codexHome,
    TMPDIR: tmp,
    RUST_LOG: 'error',
  };
}

/** A throwaway working directory for the agent. */
export async function makeWorkspace(): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'larkcode-workspace-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface CollectedTurn {
  events: ThreadEvent[];
  /** Items from `item.completed`, in order. */
  items: ThreadItem[];
  threadId: string | undefined;
  /** Text of the last agent_message, like `run().finalResponse`. */
  finalText: string | undefined;
  /** `turn.failed` message, if any. */
  failure: string | undefined;
  /** What the event iterator threw: after `turn.failed` codex still exits 1, and an abort throws AbortError. */
  thrown: unknown;
  completed: boolean;
  /** Milliseconds from runStreamed to `turn.completed` / `turn.failed` (undefined if neither came). */
  turnMs: number | undefined;
}

/** Run one streamed turn to the end and collect everything; never throws for failures or aborts. */
export async function collectTurn(
  thread: Thread,
  input: Input,
  opts: TurnOptions = {},
): Promise<CollectedTurn> {
  const started = performance.now();
  const turn: CollectedTurn = {
    events: [],
    items: [],
    threadId: undefined,
    finalText: undefined,
    failure: undefined,
    thrown: undefined,
    completed: false,
    turnMs: undefined,
  };
  try {
    const { events } = await thread.runStreamed(input, opts);
    for await (const event of events) {
      turn.events.push(event);
      if (event.type === 'thread.started') turn.threadId = event.thread_id;
      else if (event.type === 'item.completed') {
        turn.items.push(event.item);
        if (event.item.type === 'agent_message') turn.finalText = event.item.text;
      } else if (event.type === 'turn.completed' || event.type === 'turn.failed') {
        turn.turnMs = performance.now() - started;
        if (event.type === 'turn.completed') turn.completed = true;
        else turn.failure = event.error.message;
      }
    }
  } catch (error) {
    turn.thrown = error;
  }
  return turn;
}
