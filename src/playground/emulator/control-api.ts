// JSON control API under /_emu/ so black-box tests in another process can drive the emulator.
import type { FeishuEmulator } from './emulator.js';
import type { Reply } from './http.js';
import type {
  FaultSpec,
  PushCardActionParams,
  PushCommentParams,
  PushMessageParams,
  PushRawOptions,
} from './types.js';

/** FaultSpec over the wire: the path regex travels as its source (+ flags). */
export interface FaultSpecJson extends Omit<FaultSpec, 'path'> {
  path: string;
  flags?: string;
}

const json = (body: unknown, status = 200): Reply => ({ status, body });

function parseBody(raw: Buffer): Record<string, unknown> {
  if (raw.length === 0) return {};
  const parsed: unknown = JSON.parse(raw.toString('utf8'));
  return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
}

export async function handleControlRequest(
  emu: FeishuEmulator,
  method: string,
  url: URL,
  rawBody: Buffer,
): Promise<Reply> {
  try {
    const body = parseBody(rawBody);
    const route = `${method} ${url.pathname}`;
    switch (route) {
      case 'GET /_emu/status':
        return json(emu.status());
      case 'POST /_emu/wait-for-client':
        await emu.waitForClient(typeof body.timeoutMs === 'number' ? body.timeoutMs : undefined);
        return json(emu.status());
      case 'POST /_emu/chats':
        return json(emu.createChat(body as unknown as Parameters<FeishuEmulator['createChat']>[0]));
      case 'GET /_emu/chats':
        return json(emu.chats());
      case 'POST /_emu/messages':
        return json(await emu.pushMessage(body as PushMessageParams));
      case 'GET /_emu/messages':
        return json(emu.messages(url.searchParams.get('chat_id') ?? undefined));
      case 'POST /_emu/card-actions':
        return json(await emu.pushCardAction(body as unknown as PushCardActionParams));
      case 'POST /_emu/comments':
        return json(await emu.pushCommentEvent(body as unknown as PushCommentParams));
      case 'GET /_emu/comments':
        return json(emu.comments);
      case 'POST /_emu/raw-events':
        return json(await emu.pushRawEvent(body.envelope as object, (body.options ?? {}) as PushRawOptions));
      case 'POST /_emu/resources':
        emu.addResource({
          messageId: String(body.messageId),
          fileKey: String(body.fileKey),
          bytes: Buffer.from(String(body.base64 ?? ''), 'base64'),
          contentType: typeof body.contentType === 'string' ? body.contentType : undefined,
        });
        return json({});
      case 'GET /_emu/calls':
        return json(emu.calls);
      case 'GET /_emu/acks':
        return json(emu.acks);
      case 'GET /_emu/card-callbacks':
        return json(emu.cardCallbacks);
      case 'GET /_emu/view':
        return json(emu.view(url.searchParams.get('chat_id') ?? ''));
      case 'GET /_emu/violations':
        return json(emu.violations);
      case 'GET /_emu/cards':
        return json(emu.cards);
      case 'POST /_emu/faults': {
        const spec = body as unknown as FaultSpecJson;
        const id = emu.failApi({ ...spec, path: new RegExp(spec.path, spec.flags) });
        return json({ id });
      }
      case 'DELETE /_emu/faults':
        emu.clearFaults(url.searchParams.get('id') ?? undefined);
        return json({});
      case 'POST /_emu/drop':
        emu.dropConnection(body.mode === 'terminate' ? 'terminate' : 'close');
        return json({});
      case 'POST /_emu/silent':
        emu.setSilent(body.on !== false);
        return json({});
      default:
        return json({ error: `unknown control route ${route}` }, 404);
    }
  } catch (error) {
    return json({ error: error instanceof Error ? error.message : String(error) }, 500);
  }
}
