import type { IncomingHttpHeaders } from 'node:http';

/** One Responses-API SSE event, e.g. `{ type: 'response.completed', response: {...} }`. */
export interface SseEvent {
  type: string;
  [key: string]: unknown;
}

/** A pause inside a stream, in milliseconds. */
export interface DelayStep {
  delayMs: number;
}

/** Stall the stream forever: it only ends when the client goes away or the mock closes. */
export interface HangStep {
  hang: true;
}

/** Bytes written verbatim, for malformed-stream tests. */
export interface RawStep {
  raw: string;
}

export type SseStep = SseEvent | DelayStep | HangStep | RawStep;

export interface EventsTurn {
  events: SseStep[];
}

export interface HttpTurn {
  http: { status: number; body?: unknown; headers?: Record<string, string> };
  /** Wait this long before answering (set by `reply.slow`). */
  delayMs?: number;
}

/** What the mock answers to one POST /v1/responses. A function decides from the request itself. */
export type ScriptedTurn = EventsTurn | HttpTurn | ((req: RecordedRequest) => ScriptedTurn);

/** A function-free turn: the only kind that can cross the HTTP control API. */
export type StaticTurn = EventsTurn | HttpTurn;

export interface ToolOutput {
  callId: string;
  /** Name of the call it answers (`exec_command`, `apply_patch`, …), when that call is in the same request. */
  name?: string;
  /** Tool output as text; non-string outputs (content arrays) are flattened to their text parts. */
  output: string;
}

export interface RecordedRequest {
  /** Parsed JSON body (or the raw string when it is not JSON). */
  body: unknown;
  headers: IncomingHttpHeaders;
  /** Epoch milliseconds when the request arrived. */
  at: number;
  inputItems: unknown[];
  /** Text of the newest user message (for a tool-output round trip: the prompt of the current turn). */
  lastUserText: string | undefined;
  /** Texts of every user message, oldest first, without codex's own injected context messages. */
  allUserTexts: string[];
  /** `type` of the final input item, e.g. 'message' or 'function_call_output'. */
  lastItemType: string;
  toolOutputs: ToolOutput[];
  /** Codex's thread id, from the `thread-id` / `session-id` header. */
  threadId?: string;
}

/** Responses-API usage block; codex sums it into `turn.completed.usage`. */
export interface Usage {
  input_tokens: number;
  input_tokens_details?: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details?: { reasoning_tokens: number };
  total_tokens: number;
}

/** One element of `response.output`: message, function_call, custom_tool_call, reasoning, … */
export interface OutputItem {
  type: string;
  [key: string]: unknown;
}

/** One question of a `request_user_input` call; codex rejects a question without options. */
export interface UserInputQuestion {
  id: string;
  header: string;
  question: string;
  options: { label: string; description: string }[];
}
