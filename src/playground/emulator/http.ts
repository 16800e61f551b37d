// Minimal HTTP plumbing: body parsing (JSON + multipart), a path router and the reply type.
import type { IncomingMessage } from 'node:http';

export interface MultipartPart {
  name: string;
  filename?: string;
  contentType?: string;
  data: Buffer;
}

export interface RequestContext {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  params: Record<string, string>;
  rawBody: Buffer;
  /** Parsed JSON body (or undefined). */
  json: unknown;
  /** Multipart parts, when the body was multipart/form-data. */
  parts?: MultipartPart[];
}

export interface Reply {
  status: number;
  body?: unknown;
  /** Binary payload instead of JSON. */
  raw?: Buffer;
  headers?: Record<string, string>;
}

export type Handler = (ctx: RequestContext) => Reply | Promise<Reply>;

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Accepts parts without a filename: the SDK uploads Buffers that way (form-data). */
export function parseMultipart(body: Buffer, contentType: string): MultipartPart[] {
  const match = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  if (!match) return [];
  const boundary = Buffer.from(`--${match[1] ?? match[2]}`);
  const parts: MultipartPart[] = [];
  let start = body.indexOf(boundary);
  while (start !== -1) {
    const headerStart = start + boundary.length;
    if (body.subarray(headerStart, headerStart + 2).toString() === '--') break;
    const next = body.indexOf(boundary, headerStart);
    if (next === -1) break;
    // Each part: CRLF, headers, CRLF CRLF, data, CRLF, boundary.
    const part = body.subarray(headerStart + 2, next - 2);
    const split = part.indexOf('\r\n\r\n');
    if (split !== -1) {
      const headerText = part.subarray(0, split).toString('utf8');
      const data = part.subarray(split + 4);
      const name = /name="([^"]*)"/i.exec(headerText)?.[1] ?? '';
      const filename = /filename="([^"]*)"/i.exec(headerText)?.[1];
      const partType = /content-type:\s*([^\r\n]+)/i.exec(headerText)?.[1];
      parts.push({ name, filename, contentType: partType, data: Buffer.from(data) });
    }
    start = next;
  }
  return parts;
}

interface Route {
  method: string;
  pattern: RegExp;
  names: string[];
  handler: Handler;
}

export class Router {
  private readonly routes: Route[] = [];

  /** `path` uses `:name` segments, e.g. `/open-apis/im/v1/messages/:message_id/reply`. */
  on(method: string, path: string, handler: Handler): this {
    const names: string[] = [];
    const source = path.replace(/:([a-z_]+)/g, (_, name: string) => {
      names.push(name);
      return '([^/]+)';
    });
    this.routes.push({ method, pattern: new RegExp(`^${source}$`), names, handler });
    return this;
  }

  match(method: string, path: string): { handler: Handler; params: Record<string, string> } | undefined {
    for (const route of this.routes) {
      if (route.method !== method) continue;
      const m = route.pattern.exec(path);
      if (!m) continue;
      const params: Record<string, string> = {};
      route.names.forEach((name, i) => {
        params[name] = decodeURIComponent(m[i + 1]!);
      });
      return { handler: route.handler, params };
    }
    return undefined;
  }
}

export const ok = (data: unknown = {}): Reply => ({ status: 200, body: { code: 0, msg: 'success', data } });

export const fail = (status: number, code: number, msg: string, headers?: Record<string, string>): Reply => ({
  status,
  body: { code, msg, data: {} },
  headers,
});

export function asObject(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}
