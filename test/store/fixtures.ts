import type { MessageInput } from '../../src/core/bridge-input.js';
import type { ScopeRecord } from '../../src/store/scope-store.js';

export function message(scopeId: string, messageId: string, text = `text of ${messageId}`): MessageInput {
  return {
    kind: 'message',
    scopeId,
    messageId,
    actorId: 'ou_actor',
    chat: { chatId: scopeId.split(':')[1] ?? 'oc_x', chatType: 'group' },
    text,
    receivedAt: 1_700_000_000_000,
  };
}

export function idleRecord(scopeId: string, updatedAt = 1): ScopeRecord {
  return { scopeId, sessionId: `thread-${scopeId}`, settings: {}, pendingInputs: [], updatedAt };
}

export function pendingRecord(scopeId: string, ids: string[], updatedAt = 2): ScopeRecord {
  return {
    scopeId,
    settings: { debounceMs: 500 },
    pendingInputs: ids.map((id) => message(scopeId, id)),
    updatedAt,
  };
}

/**
 * The torture test's model: the record a writer puts for (scope, seq). Deterministic, so the
 * checker can tell whether what is on disk is exactly some version the writer produced. `seq` is
 * stored as `updatedAt`. Cycles through idle / pending / pending + inflight / inflight only, so
 * the active marker is created and removed all the time.
 */
export function tortureRecord(scopeId: string, seq: number): ScopeRecord {
  const phase = seq % 4;
  const record: ScopeRecord = {
    scopeId,
    sessionId: `thread-${seq}`,
    settings: { idleTimeoutSec: seq % 1000 },
    pendingInputs: [],
    updatedAt: seq,
  };
  if (phase === 1 || phase === 2) {
    record.pendingInputs = [
      message(scopeId, `om_${seq}_a`),
      message(scopeId, `om_${seq}_b`, 'x'.repeat(seq % 500)),
    ];
  }
  if (phase === 2 || phase === 3) {
    record.inflight = { runId: `run-${seq}`, inputs: [message(scopeId, `om_${seq}_r`)], startedAt: seq };
  }
  return record;
}

export const TORTURE_SCOPES = Array.from({ length: 40 }, (_, i) =>
  i % 2 ? `chat:oc_${i}` : `topic:oc_${i}:omt_${i}`,
);
