import type { IncomingHttpHeaders } from 'node:http';
import type { RecordedRequest, ToolOutput } from './types.js';

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Text parts of a content array (input_text / output_text / plain strings), joined by newlines. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part) =>
      typeof part === 'string' ? part : isObject(part) && typeof part.text === 'string' ? part.text : '',
    )
    .filter((text) => text !== '')
    .join('\n');
}

// Codex injects its own context as user-role messages; they are not what the user typed.
const injectedContextPrefixes = [
  '<environment_context>',
  '<user_instructions>',
  '# AGENTS.md instructions',
  '<turn_aborted>',
];

function isInjectedContext(text: string): boolean {
  const trimmed = text.trimStart();
  return injectedContextPrefixes.some((prefix) => trimmed.startsWith(prefix));
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Turn a raw POST /v1/responses into the summary tests assert on. */
export function recordRequest(
  rawBody: string,
  headers: IncomingHttpHeaders,
  at = Date.now(),
): RecordedRequest {
  let body: unknown = rawBody;
  try {
    body = JSON.parse(rawBody);
  } catch {
    // Keep the raw text: a malformed body is itself worth seeing in the log.
  }
  const inputItems = isObject(body) && Array.isArray(body.input) ? (body.input as unknown[]) : [];

  const allUserTexts: string[] = [];
  const toolOutputs: ToolOutput[] = [];
  // An output only carries its call_id; the call before it says which tool answered.
  const callNames = new Map<string, string>();
  for (const entry of inputItems) {
    if (!isObject(entry)) continue;
    const type = typeof entry.type === 'string' ? entry.type : 'message';
    if (type === 'message' && entry.role === 'user') {
      const text = contentText(entry.content);
      if (!isInjectedContext(text)) allUserTexts.push(text);
    } else if (type.endsWith('_call_output')) {
      const callId = String(entry.call_id ?? '');
      const name = callNames.get(callId);
      toolOutputs.push({
        callId,
        ...(name === undefined ? {} : { name }),
        output: contentText(entry.output),
      });
    } else if (type.endsWith('_call') && typeof entry.name === 'string') {
      callNames.set(String(entry.call_id ?? ''), entry.name);
    }
  }

  const last = inputItems.at(-1);
  const lastItemType = isObject(last) ? (typeof last.type === 'string' ? last.type : 'message') : '';
  const threadId =
    headerValue(headers, 'thread-id') ??
    headerValue(headers, 'session-id') ??
    (isObject(body) && typeof body.prompt_cache_key === 'string' ? body.prompt_cache_key : undefined);

  return {
    body,
    headers,
    at,
    inputItems,
    lastUserText: allUserTexts.at(-1),
    allUserTexts,
    lastItemType,
    toolOutputs,
    threadId,
  };
}
