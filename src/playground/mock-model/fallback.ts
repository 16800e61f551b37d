import { reply } from './builders.js';
import { richTurnStep } from './rich-turn.js';
import type { RecordedRequest, ScriptedTurn } from './types.js';

/**
 * The answer when nothing is queued, scripted by markers anywhere in the newest user text
 * (larkcode may wrap the chat text with context, so markers need not lead):
 *   `[[rich]]`                    → the steps of `richTurn()` (reasoning, 2 commands, patch, message)
 *   after a tool output           → message `done`, or TEXT from `[[reply: TEXT]]`
 *   `[[http500]]`                 → HTTP 500
 *   `[[fail]]`                    → response.failed
 *   `[[hang]]`                    → stall until the client goes away
 *   `[[slow:MS]]`                 → wait MS, then answer by the remaining rules
 *   `[[shell: CMD]]`              → exec_command with CMD
 *   `[[patch]]` + `*** Begin Patch … *** End Patch` → apply_patch with that patch
 *   `[[reply: TEXT]]`             → message TEXT
 *   otherwise                     → message `ok: <first 200 chars of the user text>`
 */
export function fallbackTurn(req: RecordedRequest): ScriptedTurn {
  const text = req.lastUserText ?? '';
  const replyText = /\[\[reply:\s*([\s\S]*?)\]\]/.exec(text)?.[1]?.trim();

  // A multi-request turn: it picks its step from the tool outputs so far.
  if (text.includes('[[rich]]')) return richTurnStep(req);
  // Before the other markers: the prompt still carries its [[shell: …]] marker when the tool output comes back.
  if (req.lastItemType.endsWith('_call_output')) return reply.message(replyText ?? 'done');
  if (text.includes('[[http500]]')) return reply.http(500);
  if (text.includes('[[fail]]')) return reply.failure('mock failure requested by [[fail]]');
  if (text.includes('[[hang]]')) return reply.hang();

  const slowMs = /\[\[slow:\s*(\d+)\s*\]\]/.exec(text)?.[1];
  const shellCmd = /\[\[shell:\s*([\s\S]*?)\]\]/.exec(text)?.[1]?.trim();
  const patch = text.includes('[[patch]]')
    ? /\*\*\* Begin Patch[\s\S]*?\*\*\* End Patch/.exec(text)?.[0]
    : undefined;

  let turn: ScriptedTurn;
  if (shellCmd) turn = reply.shell(shellCmd);
  else if (patch) turn = reply.applyPatch(`${patch}\n`);
  else if (replyText !== undefined) turn = reply.message(replyText);
  else turn = reply.message(`ok: ${text.slice(0, 200)}`);

  return slowMs === undefined ? turn : reply.slow(Number(slowMs), turn);
}
