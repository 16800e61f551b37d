import { addedFileContent, addFilePatch, item, responseEvents } from './builders.js';
import type { RecordedRequest, StaticTurn, Usage } from './types.js';

/**
 * One agent turn that exercises every part of a run card: a reasoning summary, a command that
 * succeeds with output, a command that fails with exit code 3, an apply_patch that writes a file,
 * and a final message. Four model responses, so it takes four POST /v1/responses:
 *
 *   1. reasoning (summary streamed as deltas) + exec_command `echo rich-ok && seq 1 3`
 *   2. exec_command `echo rich-fail >&2; exit 3`
 *   3. apply_patch `*** Add File: <fileName>`
 *   4. the final message (streamed as deltas)
 *
 * What codex 0.163 makes of it in `exec --experimental-json`: `reasoning` item.completed only (no
 * item.started, summary deltas ignored; the item comes at `output_item.done`), then per command
 * item.started + item.completed (the failing one `status: "failed"`, `exit_code: 3`), then a
 * `file_change` started + completed with the absolute path and `kind: "add"`, then `agent_message`,
 * then `turn.completed` with the usage of the four responses summed.
 */
export interface RichTurnOptions {
  /** Path of the written file, relative to the workspace. Default `RICH_TURN.md`. */
  fileName?: string;
  /** Its content; the file on disk ends with a newline either way (see `expected.file.content`). */
  fileContent?: string;
  /** The reasoning summary (codex shows summaries, not raw reasoning). */
  reasoning?: string;
  finalText?: string;
  /** Makes the call ids deterministic: `call_<id>_ok`, `call_<id>_fail`, `call_<id>_patch`. */
  id?: string;
}

export interface RichTurnCommand {
  /** What the model asked to run; codex reports it as `/bin/bash -lc '<command>'`. */
  command: string;
  exitCode: number;
  /** The SDK item status, and the AgentEvent tool status, once the command ended. */
  status: 'completed' | 'failed';
  /** Printed by the command. Codex's output also carries the login shell's profile noise, so match, don't equal. */
  outputIncludes: string;
  callId: string;
}

export interface RichTurnExpected {
  reasoningText: string;
  /** In the order codex runs them: the succeeding one, then the failing one. */
  commands: [RichTurnCommand, RichTurnCommand];
  file: {
    /** Relative to the workspace; codex reports `<workspace>/<name>` (absolute). */
    name: string;
    /** Exactly what ends up on disk. */
    content: string;
    change: 'add';
    callId: string;
  };
  finalText: string;
  /** The four responses' usage summed, as codex reports it for a fresh thread (a resumed one adds earlier turns). */
  usage: { inputTokens: number; cachedInputTokens: number; outputTokens: number; reasoningTokens: number };
  /** POST /v1/responses codex makes for the turn. */
  requestCount: number;
}

export interface RichTurn {
  /** Enqueue in order: `mock.enqueue(...turns)`, or POST them as a JSON array to `/_mock/enqueue`. */
  turns: StaticTurn[];
  expected: RichTurnExpected;
}

/** Per-response usage; distinct numbers so a test can tell a sum from a single response. */
const richUsage: Usage = {
  input_tokens: 1200,
  input_tokens_details: { cached_tokens: 800 },
  output_tokens: 60,
  output_tokens_details: { reasoning_tokens: 24 },
  total_tokens: 1260,
};

export const richTurnDefaults = {
  fileName: 'RICH_TURN.md',
  fileContent: '# Rich turn\n\nWritten by the mock model through apply_patch.\n',
  reasoning:
    '**Planning the change**\n\nRun the quick check, then the failing one, then write the notes file.',
} as const;

// Single quotes, backslashes and `$` make codex wrap the command in double quotes; these stay in
// single quotes, so the card's displayCommand gives back exactly `command`.
const okCommand = 'echo rich-ok && seq 1 3';
const failCommand = 'echo rich-fail >&2; exit 3';

let richCounter = 0;

export function richTurn(opts: RichTurnOptions = {}): RichTurn {
  richCounter += 1;
  const id = opts.id ?? `rich${richCounter}`;
  const fileName = opts.fileName ?? richTurnDefaults.fileName;
  const fileContent = opts.fileContent ?? richTurnDefaults.fileContent;
  const reasoning = opts.reasoning ?? richTurnDefaults.reasoning;
  const finalText =
    opts.finalText ??
    `Wrote \`${fileName}\`. The quick check passed; the second check failed with exit code 3.`;
  const commands: [RichTurnCommand, RichTurnCommand] = [
    {
      command: okCommand,
      exitCode: 0,
      status: 'completed',
      outputIncludes: 'rich-ok\n1\n2\n3\n',
      callId: `call_${id}_ok`,
    },
    {
      command: failCommand,
      exitCode: 3,
      status: 'failed',
      outputIncludes: 'rich-fail\n',
      callId: `call_${id}_fail`,
    },
  ];
  const patchCallId = `call_${id}_patch`;

  const responses = [
    responseEvents(
      [item.reasoning(reasoning), item.shell(commands[0].command, { callId: commands[0].callId })],
      { usage: richUsage, deltas: true },
    ),
    responseEvents([item.shell(commands[1].command, { callId: commands[1].callId })], { usage: richUsage }),
    responseEvents([item.applyPatch(addFilePatch(fileName, fileContent), { callId: patchCallId })], {
      usage: richUsage,
    }),
    responseEvents([item.message(finalText)], { usage: richUsage, deltas: true }),
  ];
  const n = responses.length;

  return {
    turns: responses.map((events) => ({ events })),
    expected: {
      reasoningText: reasoning,
      commands,
      file: { name: fileName, content: addedFileContent(fileContent), change: 'add', callId: patchCallId },
      finalText,
      usage: {
        inputTokens: n * richUsage.input_tokens,
        cachedInputTokens: n * (richUsage.input_tokens_details?.cached_tokens ?? 0),
        outputTokens: n * richUsage.output_tokens,
        reasoningTokens: n * (richUsage.output_tokens_details?.reasoning_tokens ?? 0),
      },
      requestCount: n,
    },
  };
}

/** Tool outputs since the newest user-role message: how far into its turn a request is. */
function toolOutputsThisTurn(req: RecordedRequest): number {
  let count = 0;
  for (const entry of req.inputItems) {
    const { type, role } = (entry ?? {}) as { type?: unknown; role?: unknown };
    if ((type === undefined || type === 'message') && role === 'user') count = 0;
    else if (typeof type === 'string' && type.endsWith('_call_output')) count += 1;
  }
  return count;
}

/**
 * The step of `richTurn(opts)` this request is at, judged from the request itself, so the turn can be
 * played without enqueueing (the fallback's `[[rich]]` marker); past the last step, a plain `done`.
 */
export function richTurnStep(req: RecordedRequest, opts: RichTurnOptions = {}): StaticTurn {
  const { turns } = richTurn({ id: 'rich', ...opts });
  return turns[toolOutputsThisTurn(req)] ?? { events: responseEvents([item.message('done')]) };
}
