/**
 * The environment a codex child gets. The SDK does not inherit process.env when
 * `env` is given, which is what we want: Feishu credentials and unrelated secrets
 * never reach the agent. Only what a shell and codex need, plus proxies.
 */
/** How a process reaches the network from here: proxies (both spellings) and extra CA certificates. */
export const NETWORK_ENV = [
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'ALL_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'all_proxy',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'NODE_EXTRA_CA_CERTS',
] as const;

const PASS_THROUGH = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG',
  'LANGUAGE',
  'TZ',
  'TERM',
  ...NETWORK_ENV,
  'XDG_RUNTIME_DIR',
];

export function codexChildEnvironment(
  source: NodeJS.ProcessEnv,
  extra: { codexHome: string; passKeys?: readonly string[] },
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of [...PASS_THROUGH, ...(extra.passKeys ?? [])]) {
    const value = source[key];
    if (value !== undefined) env[key] = value;
  }
  for (const [key, value] of Object.entries(source)) {
    if (key.startsWith('LC_') && value !== undefined) env[key] = value;
  }
  env.CODEX_HOME = extra.codexHome;
  // codex refuses to create helper links under the system temp dir; give it its own.
  env.TMPDIR = `${extra.codexHome}/tmp`;
  env.RUST_LOG = source.LARKCODE_CODEX_RUST_LOG ?? 'error';
  return env;
}

/** Env var names that codex `model_providers.*.env_key` entries ask for. */
export function providerKeyNames(codexConfig: Record<string, unknown>): string[] {
  const providers = codexConfig.model_providers;
  if (!providers || typeof providers !== 'object') return [];
  return Object.values(providers as Record<string, unknown>).flatMap((provider) => {
    const key = (provider as { env_key?: unknown } | null)?.env_key;
    return typeof key === 'string' ? [key] : [];
  });
}
