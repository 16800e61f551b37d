import { createHash } from 'node:crypto';

/** Everything that decides what an agent run may do; a change to any part is a different policy. */
export interface PolicyParts {
  scopeId: string;
  cwd: string;
  sandbox: string;
  networkAccess: boolean;
  codexHome: string;
  authMode?: string;
  accessDigest?: string;
}

/**
 * A short digest of the policy a card (and later a session) was made under, so a button from
 * before a policy change can be refused instead of acting under the new policy.
 *
 * Canonical: the key order is fixed here, not taken from the caller's object, and an absent
 * optional part is `null` (distinct from an empty string). 16 hex chars (64 bits) is plenty to
 * tell policies apart; it is not a secret and forging is prevented by the token's MAC.
 */
export function policyFingerprint(parts: PolicyParts): string {
  const canonical = JSON.stringify({
    scopeId: parts.scopeId,
    cwd: parts.cwd,
    sandbox: parts.sandbox,
    networkAccess: parts.networkAccess,
    codexHome: parts.codexHome,
    authMode: parts.authMode ?? null,
    accessDigest: parts.accessDigest ?? null,
  });
  return createHash('sha256').update(canonical, 'utf8').digest('hex').slice(0, 16);
}
