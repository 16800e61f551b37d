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

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    { level, base: { pid: process.pid }, redact: { paths: REDACT, censor: '[redacted]' } },
    destination,
  );
}
