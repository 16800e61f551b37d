import Conf from 'conf';

interface SessionRecord {
  sessionId: string;
  updatedAt: number;
}

type SessionsFile = Record<string, SessionRecord>;

/**
 * Agent session id per scope. Written the moment the agent reports it, atomically
 * (conf → atomically: temp file, fsync, rename), so a crash never loses a thread.
 */
export class SessionStore {
  readonly #file: Conf<SessionsFile>;

  constructor(stateDir: string) {
    this.#file = new Conf<SessionsFile>({
      cwd: stateDir,
      configName: 'sessions',
      accessPropertiesByDotNotation: false,
      clearInvalidConfig: false,
    });
  }

  get(scopeId: string): string | undefined {
    return this.#file.get(scopeId)?.sessionId;
  }

  set(scopeId: string, sessionId: string, now = Date.now()): void {
    if (this.get(scopeId) === sessionId) return;
    this.#file.set(scopeId, { sessionId, updatedAt: now });
  }

  clear(scopeId: string): void {
    this.#file.delete(scopeId);
  }
}
