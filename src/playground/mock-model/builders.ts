import type {
  EventsTurn,
  HttpTurn,
  OutputItem,
  ScriptedTurn,
  SseStep,
  Usage,
  UserInputQuestion,
} from './types.js';

// Ids only need to be unique within one test run; a module counter keeps them readable.
let idCounter = 0;
function nextId(prefix: string): string {
  idCounter += 1;
  return `${prefix}_${idCounter}`;
}

export const defaultUsage: Usage = {
  input_tokens: 10,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: 5,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: 15,
};

/** Output-item builders: combine several in one response with `reply.items([...])`. */
export const item = {
  message(text: string, opts: { id?: string } = {}): OutputItem {
    return {
      type: 'message',
      role: 'assistant',
      id: opts.id ?? nextId('msg'),
      status: 'completed',
      content: [{ type: 'output_text', text, annotations: [] }],
    };
  },

  /** gpt-5.5's shell tool is unified exec: `exec_command` with `{cmd}` (only `cmd` is required). */
  shell(cmd: string, opts: { callId?: string; workdir?: string } = {}): OutputItem {
    const args: Record<string, unknown> = { cmd };
    if (opts.workdir !== undefined) args.workdir = opts.workdir;
    return item.functionCall('exec_command', args, { callId: opts.callId });
  },

  /**
   * exec_command asking to run outside the sandbox. Under approvalPolicy `on-request` codex asks the
   * client first (`item/commandExecution/requestApproval`, `justification` as its `reason`); under
   * `never` the model gets a refusal instead.
   */
  escalatedShell(cmd: string, opts: { callId?: string; justification?: string } = {}): OutputItem {
    return item.functionCall(
      'exec_command',
      {
        cmd,
        sandbox_permissions: 'require_escalated',
        justification: opts.justification ?? 'The task needs this to run outside the sandbox',
      },
      { callId: opts.callId },
    );
  },

  /**
   * Questions for the user (`item/tool/requestUserInput`). Codex only offers the tool in Plan mode or
   * with `features.default_mode_request_user_input = true`; otherwise the model gets "unavailable".
   */
  requestUserInput(questions: UserInputQuestion[], opts: { callId?: string } = {}): OutputItem {
    return item.functionCall('request_user_input', { questions }, { callId: opts.callId });
  },

  /** apply_patch is a freeform custom tool: the patch text goes in `input`, not JSON arguments. */
  applyPatch(patchText: string, opts: { callId?: string } = {}): OutputItem {
    return {
      type: 'custom_tool_call',
      id: nextId('ctc'),
      call_id: opts.callId ?? nextId('call'),
      name: 'apply_patch',
      input: patchText,
      status: 'completed',
    };
  },

  /** Codex surfaces the summary text as a `reasoning` item. */
  reasoning(summary: string, opts: { id?: string } = {}): OutputItem {
    return {
      type: 'reasoning',
      id: opts.id ?? nextId('rs'),
      summary: [{ type: 'summary_text', text: summary }],
    };
  },

  webSearch(query: string, opts: { id?: string } = {}): OutputItem {
    return {
      type: 'web_search_call',
      id: opts.id ?? nextId('ws'),
      status: 'completed',
      action: { type: 'search', query },
    };
  },

  /** Only advertised to the model when codex runs with `tools.update_plan = { enabled = true }`. */
  updatePlan(
    plan: { step: string; status: 'pending' | 'in_progress' | 'completed' }[],
    opts: { callId?: string; explanation?: string } = {},
  ): OutputItem {
    const args: Record<string, unknown> = { plan };
    if (opts.explanation !== undefined) args.explanation = opts.explanation;
    return item.functionCall('update_plan', args, { callId: opts.callId });
  },

  /** Any function tool, e.g. MCP: `functionCall('add', {a: 1}, { namespace: 'mcp__calc' })`. */
  functionCall(
    name: string,
    args: Record<string, unknown>,
    opts: { callId?: string; namespace?: string } = {},
  ): OutputItem {
    const call: OutputItem = {
      type: 'function_call',
      id: nextId('fc'),
      call_id: opts.callId ?? nextId('call'),
      name,
      arguments: JSON.stringify(args),
      status: 'completed',
    };
    if (opts.namespace !== undefined) call.namespace = opts.namespace;
    return call;
  },
};

/**
 * An apply_patch text that creates `path` (relative to the workspace) with `content`. Add File also
 * overwrites an existing file (codex still reports the change as `add`). The file on disk always ends
 * with a newline: see `addedFileContent`.
 */
export function addFilePatch(path: string, content: string): string {
  const lines = patchLines(content).map((line) => `+${line}`);
  return ['*** Begin Patch', `*** Add File: ${path}`, ...lines, '*** End Patch', ''].join('\n');
}

/** What `addFilePatch(path, content)` leaves on disk. */
export function addedFileContent(content: string): string {
  return patchLines(content)
    .map((line) => `${line}\n`)
    .join('');
}

function patchLines(content: string): string[] {
  const lines = content.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

export interface ItemsOptions {
  usage?: Usage;
  /**
   * Stream text first: message text as `response.output_text.delta` chunks, reasoning summaries as
   * `response.reasoning_summary_text.delta` chunks (per summary part). true = 3 chunks, a number = that many.
   * `codex exec` ignores the deltas and emits each item once, on `output_item.done`.
   */
  deltas?: boolean | number;
  delayMsBetweenDeltas?: number;
}

function splitIntoChunks(text: string, count: number): string[] {
  const size = Math.max(1, Math.ceil(text.length / Math.max(1, count)));
  const chunks: string[] = [];
  for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
  return chunks.length > 0 ? chunks : [''];
}

function messageText(out: OutputItem): string {
  const content = Array.isArray(out.content) ? (out.content as { text?: unknown }[]) : [];
  return content.map((part) => (typeof part.text === 'string' ? part.text : '')).join('');
}

function summaryTexts(out: OutputItem): string[] {
  const summary = Array.isArray(out.summary) ? (out.summary as { text?: unknown }[]) : [];
  return summary.map((part) => (typeof part.text === 'string' ? part.text : ''));
}

/** `text` as delta events (the count from `opts.deltas`), paced by `opts.delayMsBetweenDeltas`. */
function deltaSteps(text: string, opts: ItemsOptions, delta: (chunk: string) => SseStep): SseStep[] {
  const count = opts.deltas === true ? 3 : Number(opts.deltas);
  const steps: SseStep[] = [];
  for (const [i, chunk] of splitIntoChunks(text, count).entries()) {
    if (i > 0 && opts.delayMsBetweenDeltas) steps.push({ delayMs: opts.delayMsBetweenDeltas });
    steps.push(delta(chunk));
  }
  return steps;
}

/** The Responses API's reasoning-summary stream: per part added, text deltas, text done, part done. */
function reasoningSummarySteps(out: OutputItem, outputIndex: number, opts: ItemsOptions): SseStep[] {
  const steps: SseStep[] = [];
  for (const [summaryIndex, text] of summaryTexts(out).entries()) {
    const at = { item_id: out.id, output_index: outputIndex, summary_index: summaryIndex };
    steps.push({
      type: 'response.reasoning_summary_part.added',
      ...at,
      part: { type: 'summary_text', text: '' },
    });
    steps.push(
      ...deltaSteps(text, opts, (delta) => ({ type: 'response.reasoning_summary_text.delta', ...at, delta })),
    );
    steps.push({ type: 'response.reasoning_summary_text.done', ...at, text });
    steps.push({ type: 'response.reasoning_summary_part.done', ...at, part: { type: 'summary_text', text } });
  }
  return steps;
}

/** Events of a whole response: created, per item added/(deltas)/done, completed with usage. */
export function responseEvents(items: OutputItem[], opts: ItemsOptions = {}): SseStep[] {
  const responseId = nextId('resp');
  const steps: SseStep[] = [
    { type: 'response.created', response: { id: responseId, status: 'in_progress', output: [] } },
  ];
  const streaming = opts.deltas !== undefined && opts.deltas !== false;
  items.forEach((out, outputIndex) => {
    if (streaming && out.type === 'message') {
      steps.push({
        type: 'response.output_item.added',
        output_index: outputIndex,
        item: { ...out, status: 'in_progress', content: [] },
      });
      steps.push(
        ...deltaSteps(messageText(out), opts, (delta) => ({
          type: 'response.output_text.delta',
          item_id: out.id,
          output_index: outputIndex,
          content_index: 0,
          delta,
        })),
      );
    } else if (streaming && out.type === 'reasoning') {
      steps.push({
        type: 'response.output_item.added',
        output_index: outputIndex,
        item: { ...out, summary: [] },
      });
      steps.push(...reasoningSummarySteps(out, outputIndex, opts));
    } else {
      steps.push({ type: 'response.output_item.added', output_index: outputIndex, item: out });
    }
    steps.push({ type: 'response.output_item.done', output_index: outputIndex, item: out });
  });
  steps.push({
    type: 'response.completed',
    response: { id: responseId, status: 'completed', output: items, usage: opts.usage ?? defaultUsage },
  });
  return steps;
}

function defaultHttpBody(status: number): unknown {
  return { error: { message: `mock http ${status}`, type: 'mock_error', code: null, param: null } };
}

/** Ready-made turns. Each returns a complete response (created … output_item.done … completed). */
export const reply = {
  message(text: string, opts: ItemsOptions = {}): EventsTurn {
    return { events: responseEvents([item.message(text)], opts) };
  },

  shell(cmd: string, opts: { callId?: string; workdir?: string; usage?: Usage } = {}): EventsTurn {
    return { events: responseEvents([item.shell(cmd, opts)], { usage: opts.usage }) };
  },

  applyPatch(patchText: string, opts: { callId?: string; usage?: Usage } = {}): EventsTurn {
    return { events: responseEvents([item.applyPatch(patchText, opts)], { usage: opts.usage }) };
  },

  escalatedShell(
    cmd: string,
    opts: { callId?: string; justification?: string; usage?: Usage } = {},
  ): EventsTurn {
    return { events: responseEvents([item.escalatedShell(cmd, opts)], { usage: opts.usage }) };
  },

  requestUserInput(
    questions: UserInputQuestion[],
    opts: { callId?: string; usage?: Usage } = {},
  ): EventsTurn {
    return { events: responseEvents([item.requestUserInput(questions, opts)], { usage: opts.usage }) };
  },

  /** A reasoning item, then optionally more output: a string becomes a message item. */
  reasoning(summary: string, then?: string | OutputItem | OutputItem[], opts: ItemsOptions = {}): EventsTurn {
    const rest = then === undefined ? [] : typeof then === 'string' ? [item.message(then)] : [then].flat();
    return { events: responseEvents([item.reasoning(summary), ...rest], opts) };
  },

  /** Several output items in one response, e.g. `[item.reasoning('…'), item.message('…')]`. */
  items(items: OutputItem[], opts: ItemsOptions = {}): EventsTurn {
    return { events: responseEvents(items, opts) };
  },

  /** `response.failed`; codex reports `stream disconnected before completion: <message>`. */
  failure(message: string, code = 'server_error'): EventsTurn {
    const responseId = nextId('resp');
    return {
      events: [
        { type: 'response.created', response: { id: responseId, status: 'in_progress', output: [] } },
        {
          type: 'response.failed',
          response: { id: responseId, status: 'failed', output: [], error: { code, message } },
        },
      ],
    };
  },

  http(status: number, body?: unknown, headers?: Record<string, string>): HttpTurn {
    return { http: { status, body: body ?? defaultHttpBody(status), headers } };
  },

  /** Wait `ms` before answering with `turn` (before the headers, so codex sees nothing meanwhile). */
  slow(ms: number, turn: ScriptedTurn): ScriptedTurn {
    if (typeof turn === 'function') return (req) => reply.slow(ms, turn(req));
    if ('http' in turn) return { ...turn, delayMs: (turn.delayMs ?? 0) + ms };
    return { events: [{ delayMs: ms }, ...turn.events] };
  },

  /** Send `response.created`, then stall until the client disconnects or the mock closes. */
  hang(): EventsTurn {
    return {
      events: [
        { type: 'response.created', response: { id: nextId('resp'), status: 'in_progress', output: [] } },
        { hang: true },
      ],
    };
  },
};
