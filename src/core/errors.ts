/** Where a failure belongs, so the CLI can pick an exit code and people a fix. */
export type LarkcodeErrorKind = 'config' | 'workspace' | 'feishu' | 'agent' | 'lock' | 'internal';

/** The one error type larkcode throws on purpose; `message` is written for a person. */
export class LarkcodeError extends Error {
  constructor(
    readonly kind: LarkcodeErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LarkcodeError';
  }
}
