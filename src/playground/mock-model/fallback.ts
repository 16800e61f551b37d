import { addFilePatch, reply } from './builders.js';
import { richTurnStep } from './rich-turn.js';
import type { RecordedRequest, ScriptedTurn, ToolOutput } from './types.js';

/**
 * The answer when nothing is queued, scripted by markers anywhere in the newest user text
 * (larkcode may wrap the chat text with context, so markers need not lead):
 *   `[[rich]]`                    → the steps of `richTurn()` (reasoning, 2 commands, patch, message)
 *   after a tool output           → the answer to `[[ask: …]]`: message `you chose: A, B`;
 *                                   a declined command or patch: `not allowed: <first 120 chars of the output>`;
 *                                   else message `done`, or TEXT from `[[reply: TEXT]]`
 *   `[[http500]]`                 → HTTP 500
 *   `[[fail]]`                    → response.failed
 *   `[[hang]]`                    → stall until the client goes away
 *   `[[slow:MS]]`                 → wait MS, then answer by the remaining rules
 *   `[[escalate: CMD]]`           → exec_command with CMD and `sandbox_permissions: require_escalated`
 *                                   (approvalPolicy `on-request` ⇒ item/commandExecution/requestApproval)
 *   `[[patch-outside: /ABS/PATH]]` → apply_patch adding that file with `patched outside\n`
 *                                   (outside the writable roots ⇒ item/fileChange/requestApproval)
 *   `[[ask: QUESTION | OPT1 | OPT2 …]]` → request_user_input with one question `q1` and those options
 *                                   (needs `features.default_mode_request_user_input = true`)
 *   `[[shell: CMD]]`              → exec_command with CMD
 *   `[[patch]]` + `*** Begin Patch … *** End Patch` → apply_patch with that patch
 *   `[[reply: TEXT]]`             → message TEXT
 *   otherwise                     → message `ok: <first 200 chars of the user text>`
 * A marker's argument ends at the first `]]`, so CMD cannot contain `]]`.
 */
export function fallbackTurn(req: RecordedRequest): ScriptedTurn {
  const text = req.lastUserText ?? '';
  const replyText = /\[\[reply:\s*([\s\S]*?)\]\]/.exec(text)?.[1]?.trim();

  // A multi-request turn: it picks its step from the tool outputs so far.
  if (text.includes('[[rich]]')) return richTurnStep(req);
  // Before the other markers: the prompt still carries its [[shell: …]] marker when the tool output comes back.
  if (req.lastItemType.endsWith('_call_output')) return afterToolOutput(req.toolOutputs.at(-1), replyText);
  if (text.includes('[[http500]]')) return reply.http(500);
  if (text.includes('[[fail]]')) return reply.failure('mock failure requested by [[fail]]');
  if (text.includes('[[hang]]')) return reply.hang();

  const slowMs = /\[\[slow:\s*(\d+)\s*\]\]/.exec(text)?.[1];
  const escalateCmd = markerArgument(text, 'escalate');
  const outsidePath = markerArgument(text, 'patch-outside');
  const ask = markerArgument(text, 'ask');
  const shellCmd = markerArgument(text, 'shell');
  const patch = text.includes('[[patch]]')
    ? /\*\*\* Begin Patch[\s\S]*?\*\*\* End Patch/.exec(text)?.[0]
    : undefined;

  let turn: ScriptedTurn;
  if (escalateCmd) turn = reply.escalatedShell(escalateCmd);
  else if (outsidePath) turn = reply.applyPatch(addFilePatch(outsidePath, 'patched outside\n'));
  else if (ask) turn = askTurn(ask);
  else if (shellCmd) turn = reply.shell(shellCmd);
  else if (patch) turn = reply.applyPatch(`${patch}\n`);
  else if (replyText !== undefined) turn = reply.message(replyText);
  else turn = reply.message(`ok: ${text.slice(0, 200)}`);

  return slowMs === undefined ? turn : reply.slow(Number(slowMs), turn);
}

/** The trimmed argument of `[[name: ARG]]`, or undefined when the marker is absent or empty. */
function markerArgument(text: string, name: string): string | undefined {
  return new RegExp(`\\[\\[${name}:\\s*([\\s\\S]*?)\\]\\]`).exec(text)?.[1]?.trim() || undefined;
}

/** `QUESTION | OPT1 | OPT2`: no options is passed on as is, so codex's own refusal can be tested too. */
function askTurn(spec: string): ScriptedTurn {
  const [question = '', ...labels] = spec.split('|').map((part) => part.trim());
  return reply.requestUserInput([
    {
      id: 'q1',
      header: 'Question',
      question,
      options: labels.filter(Boolean).map((label) => ({ label, description: '' })),
    },
  ]);
}

function afterToolOutput(output: ToolOutput | undefined, replyText: string | undefined): ScriptedTurn {
  const text = output?.output ?? '';
  const answers = output === undefined ? undefined : userInputAnswers(output);
  if (answers) return reply.message(`you chose: ${answers.join(', ')}`);
  // Decline reaches the model as `…Rejected("rejected by user")…` (command) or `patch rejected by user`.
  if (/rejected by user|patch rejected/i.test(text))
    return reply.message(`not allowed: ${text.slice(0, 120)}`);
  return reply.message(replyText ?? 'done');
}

/** The answers of a request_user_input output, `{"answers":{"q1":{"answers":["…"]}}}`, flattened. */
function userInputAnswers(output: ToolOutput): string[] | undefined {
  if (output.name !== undefined && output.name !== 'request_user_input') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(output.output);
  } catch {
    return undefined;
  }
  const byQuestion = (parsed as { answers?: unknown } | null)?.answers;
  if (typeof byQuestion !== 'object' || byQuestion === null || Array.isArray(byQuestion)) return undefined;
  return Object.values(byQuestion).flatMap((answer) => {
    const list = (answer as { answers?: unknown } | null)?.answers;
    return Array.isArray(list) ? list.filter((a): a is string => typeof a === 'string') : [];
  });
}
