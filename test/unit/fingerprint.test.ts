import { describe, expect, it } from 'vitest';
import { type PolicyParts, policyFingerprint } from '../../src/policy/fingerprint.js';

const base: PolicyParts = {
  scopeId: 'chat:oc_1',
  cwd: '/srv/project',
  sandbox: 'workspace-write',
  networkAccess: false,
  codexHome: '/x/state/codex-home',
  authMode: 'chatgpt',
  accessDigest: 'abc',
};

describe('policyFingerprint', () => {
  it('is 16 hex chars and stable, whatever the key order of the argument', () => {
    const fp = policyFingerprint(base);
    expect(fp).toMatch(/^[0-9a-f]{16}$/);
    const reversed = Object.fromEntries(Object.entries(base).reverse()) as unknown as PolicyParts;
    expect(policyFingerprint(reversed)).toBe(fp);
    expect(policyFingerprint({ ...base })).toBe(fp);
  });

  it.each([
    ['scopeId', 'chat:oc_2'],
    ['cwd', '/srv/other'],
    ['sandbox', 'read-only'],
    ['networkAccess', true],
    ['codexHome', '/y'],
    ['authMode', 'apikey'],
    ['accessDigest', 'abd'],
  ] as const)('changes with %s', (key, value) => {
    expect(policyFingerprint({ ...base, [key]: value })).not.toBe(policyFingerprint(base));
  });

  it('tells an absent optional part from an empty one', () => {
    const { authMode: _a, accessDigest: _d, ...required } = base;
    expect(policyFingerprint(required)).not.toBe(policyFingerprint({ ...required, authMode: '' }));
    expect(policyFingerprint(required)).not.toBe(policyFingerprint({ ...required, accessDigest: '' }));
    expect(policyFingerprint({ ...required, authMode: 'x' })).not.toBe(
      policyFingerprint({ ...required, accessDigest: 'x' }),
    );
  });
});
