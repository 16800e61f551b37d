import type { ScopeSettings } from '../../machines/scope.machine.js';

/** Scope settings for tests: production timings, a fixed workspace. */
export const TEST_SCOPE_SETTINGS: ScopeSettings = {
  workspace: '/work/project',
  sandbox: 'workspace-write',
  networkAccess: false,
  debounceMs: 800,
  idleTimeoutMs: 600_000,
  runCapMs: 3_600_000,
  stopGraceMs: 10_000,
  evictAfterMs: 1_800_000,
};
