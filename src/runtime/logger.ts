import { join } from 'node:path';
import pino, { type Logger } from 'pino';

/** Paths that may hold secrets anywhere in a log object. */
const REDACT = [
  'appSecret',
  '*.appSecret',
  'apiKey',
  '*.apiKey',
  'secret',
  '*.secret',
  'authorization',
  '*.authorization',
];

export interface LogOutputs {
  /** Directory for `larkcode.log`, rotated at 10 MB, 5 kept (pino-roll). */
  logDir?: string;
  /** Human-readable lines on stdout (pino-pretty); JSON lines otherwise. */
  pretty?: boolean;
}

/**
 * pino JSONL. With a log directory, lines also go to a rotating file through a transport (a
 * worker thread, so writing never blocks the event loop); stdout stays JSON unless it is a
 * terminal, where people read it.
 */
export function createLogger(level: string, outputs?: pino.DestinationStream | LogOutputs): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { pid: process.pid },
    redact: { paths: REDACT, censor: '[redacted]' },
  };
  if (!outputs || 'write' in outputs) return pino(options, outputs as pino.DestinationStream | undefined);
  const targets: pino.TransportTargetOptions[] = [
    outputs.pretty
      ? {
          target: 'pino-pretty',
          level,
          options: { destination: 1, colorize: true, translateTime: 'SYS:HH:MM:ss' },
        }
      : { target: 'pino/file', level, options: { destination: 1 } },
  ];
  if (outputs.logDir) {
    targets.push({
      target: 'pino-roll',
      level,
      options: { file: join(outputs.logDir, 'larkcode.log'), size: '10m', limit: { count: 5 }, mkdir: true },
    });
  }
  return pino(options, pino.transport({ targets }));
}
