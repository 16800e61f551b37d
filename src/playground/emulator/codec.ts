// Hand-rolled pbbp2.Frame codec. protobufjs reflection cannot be used in the same process as the
// SDK: on import it unsets util.Long on the shared protobufjs/minimal and uint64 decoding breaks.
import protobuf from 'protobufjs/minimal.js';

export interface FrameHeader {
  key: string;
  value: string;
}

export interface Frame {
  SeqID: number;
  LogID: number;
  service: number;
  method: number;
  headers: FrameHeader[];
  payloadEncoding?: string;
  payloadType?: string;
  payload?: Uint8Array;
  LogIDNew?: string;
}

/** Frame.method values. */
export const FRAME_METHOD_CONTROL = 0;
export const FRAME_METHOD_DATA = 1;

// uint64 comes back as a Long while protobufjs still has Long, as a number after the SDK
// disabled it; accept both.
function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (value && typeof (value as { toNumber?: unknown }).toNumber === 'function') {
    return (value as { toNumber(): number }).toNumber();
  }
  return Number(value);
}

export function encodeFrame(frame: Frame): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32(0x08).uint64(frame.SeqID);
  w.uint32(0x10).uint64(frame.LogID);
  w.uint32(0x18).int32(frame.service);
  w.uint32(0x20).int32(frame.method);
  for (const h of frame.headers) {
    w.uint32(0x2a).fork();
    w.uint32(0x0a).string(h.key);
    w.uint32(0x12).string(h.value);
    w.ldelim();
  }
  if (frame.payloadEncoding !== undefined) w.uint32(0x32).string(frame.payloadEncoding);
  if (frame.payloadType !== undefined) w.uint32(0x3a).string(frame.payloadType);
  if (frame.payload !== undefined) w.uint32(0x42).bytes(frame.payload);
  if (frame.LogIDNew !== undefined) w.uint32(0x4a).string(frame.LogIDNew);
  return w.finish();
}

function decodeHeader(r: protobuf.Reader, length: number): FrameHeader {
  const end = r.pos + length;
  const header: FrameHeader = { key: '', value: '' };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1:
        header.key = r.string();
        break;
      case 2:
        header.value = r.string();
        break;
      default:
        r.skipType(tag & 7);
    }
  }
  return header;
}

export function decodeFrame(bytes: Uint8Array): Frame {
  const r = protobuf.Reader.create(bytes);
  const frame: Frame = { SeqID: 0, LogID: 0, service: 0, method: 0, headers: [] };
  while (r.pos < r.len) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1:
        frame.SeqID = toNumber(r.uint64());
        break;
      case 2:
        frame.LogID = toNumber(r.uint64());
        break;
      case 3:
        frame.service = r.int32();
        break;
      case 4:
        frame.method = r.int32();
        break;
      case 5:
        frame.headers.push(decodeHeader(r, r.uint32()));
        break;
      case 6:
        frame.payloadEncoding = r.string();
        break;
      case 7:
        frame.payloadType = r.string();
        break;
      case 8:
        frame.payload = r.bytes();
        break;
      case 9:
        frame.LogIDNew = r.string();
        break;
      default:
        r.skipType(tag & 7);
    }
  }
  return frame;
}

export function headerValue(frame: Frame, key: string): string | undefined {
  return frame.headers.find((h) => h.key === key)?.value;
}
