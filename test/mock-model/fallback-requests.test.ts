// The fallback markers that drive approvals and questions (no codex): what each one makes the
// model call, and how the answer after the tool output depends on that output.
import { describe, expect, it } from 'vitest';
import { fallbackTurn, type RecordedRequest, recordRequest } from '../support/mock-model/index.js';

function userMessage(text: string): unknown {
  return { type: 'message', role: 'user', content: [{ type: 'input_text', text }] };
}

function fakeRequest(input: unknown[]): RecordedRequest {
  return recordRequest(JSON.stringify({ input }), {});
}

/** The output items of the fallback's answer to `input`. */
function outputItems(input: unknown[]): Record<string, unknown>[] {
  const turn = fallbackTurn(fakeRequest(input)) as {
    events?: { type: string; item?: Record<string, unknown> }[];
  };
  return (turn.events ?? []).filter((e) => e.type === 'response.output_item.done').map((e) => e.item!);
}

function onlyCall(text: string): { name: unknown; args: unknown; input: unknown } {
  const [call, ...rest] = outputItems([userMessage(text)]);
  expect(rest).toEqual([]);
  return {
    name: call!.name,
    args: typeof call!.arguments === 'string' ? JSON.parse(call!.arguments) : undefined,
    input: call!.input,
  };
}

function replyText(input: unknown[]): unknown {
  const [message] = outputItems(input);
  return (message!.content as { text: string }[])[0]!.text;
}

describe('approval and question markers', () => {
  it('[[escalate: CMD]] asks for an exec_command outside the sandbox', () => {
    expect(onlyCall('please [[escalate: echo hi > /srv/out/x.txt]] now')).toEqual({
      name: 'exec_command',
      args: {
        cmd: 'echo hi > /srv/out/x.txt',
        sandbox_permissions: 'require_escalated',
        justification: 'The task needs this to run outside the sandbox',
      },
      input: undefined,
    });
  });

  it('[[patch-outside: PATH]] adds that file through apply_patch', () => {
    expect(onlyCall('[[patch-outside: /srv/out/p.txt]]')).toEqual({
      name: 'apply_patch',
      args: undefined,
      input: '*** Begin Patch\n*** Add File: /srv/out/p.txt\n+patched outside\n*** End Patch\n',
    });
  });

  it('[[ask: Q | A | B]] puts one question with those options', () => {
    expect(onlyCall('context\n[[ask: Which db? | Postgres | SQLite ]]').args).toEqual({
      questions: [
        {
          id: 'q1',
          header: 'Question',
          question: 'Which db?',
          options: [
            { label: 'Postgres', description: '' },
            { label: 'SQLite', description: '' },
          ],
        },
      ],
    });
    // Without options it still asks: codex's own refusal is then what the model hears.
    expect(onlyCall('[[ask: Anything?]]').args).toMatchObject({
      questions: [{ question: 'Anything?', options: [] }],
    });
  });

  it('waits before asking under [[slow:MS]]', () => {
    const turn = fallbackTurn(fakeRequest([userMessage('[[slow:300]] [[escalate: true]]')])) as {
      events: unknown[];
    };
    expect(turn.events[0]).toEqual({ delayMs: 300 });
  });
});

describe('the answer after the tool output', () => {
  const call = (name: string, callId: string) => ({
    type: 'function_call',
    call_id: callId,
    name,
    arguments: '{}',
  });
  const output = (callId: string, text: string, type = 'function_call_output') => ({
    type,
    call_id: callId,
    output: text,
  });

  it('repeats the user’s choices, joined by commas', () => {
    const answers = '{"answers":{"q1":{"answers":["Postgres","user_note: keep it short"]}}}';
    const input = [
      userMessage('[[ask: Which db? | Postgres | SQLite]]'),
      call('request_user_input', 'c1'),
      output('c1', answers),
    ];
    expect(replyText(input)).toBe('you chose: Postgres, user_note: keep it short');
    expect(fakeRequest(input).toolOutputs).toEqual([
      { callId: 'c1', name: 'request_user_input', output: answers },
    ]);
  });

  it('says a declined command or patch was not allowed, with the start of the output', () => {
    const rejected = 'exec_command failed: CreateProcess { message: "Rejected(\\"rejected by user\\")" }';
    expect(
      replyText([
        userMessage('[[escalate: rm -rf /x]] [[reply: never used]]'),
        call('exec_command', 'c2'),
        output('c2', rejected),
      ]),
    ).toBe(`not allowed: ${rejected.slice(0, 120)}`);
    expect(
      replyText([
        userMessage('[[patch-outside: /x]]'),
        { type: 'custom_tool_call', call_id: 'c3', name: 'apply_patch', input: '' },
        output('c3', 'patch rejected by user', 'custom_tool_call_output'),
      ]),
    ).toBe('not allowed: patch rejected by user');
  });

  it('otherwise answers done, or the [[reply: …]] text, as before', () => {
    const ok = 'Chunk ID: 1\nProcess exited with code 0\nOutput:\nhi\n';
    expect(
      replyText([userMessage('[[escalate: echo hi]]'), call('exec_command', 'c4'), output('c4', ok)]),
    ).toBe('done');
    expect(
      replyText([
        userMessage('[[escalate: echo hi]] [[reply: wrote it]]'),
        call('exec_command', 'c5'),
        output('c5', ok),
      ]),
    ).toBe('wrote it');
    // JSON that looks like answers, from another tool, is just output.
    expect(
      replyText([
        userMessage('[[shell: cat a.json]]'),
        call('exec_command', 'c6'),
        output('c6', '{"answers":{}}'),
      ]),
    ).toBe('done');
    // The tool was refused in Default mode: no answers, so the plain rule.
    expect(
      replyText([
        userMessage('[[ask: Which? | A]]'),
        call('request_user_input', 'c7'),
        output('c7', 'request_user_input is unavailable in Default mode'),
      ]),
    ).toBe('done');
  });
});
