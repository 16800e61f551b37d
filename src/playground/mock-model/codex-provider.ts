// The codex `--config` that points the real codex binary at the mock model (tests and the
// playground's offline demo). Recipe and reasons: shared/research/codex-offline.md §3 and §12.
import type { CodexOptions } from '@openai/codex-sdk';

/** The SDK's `config` type; it is a `Record<string, unknown>` that `new Codex({ config })` accepts without a cast. */
export type CodexConfig = NonNullable<CodexOptions['config']>;

export interface CodexProviderOptions {
  /** Per-SSE-event idle timeout; lower it to test stalls without an AbortSignal. */
  streamIdleTimeoutMs?: number;
}

/**
 * The SDK `config` object (→ `--config` flags) pointing codex at the mock.
 * A custom provider, because the built-in one tries WebSockets first (~6.6 s per process);
 * retries off, so failures surface at once; analytics/plugins off, so nothing but the mock is contacted.
 */
export function codexProviderConfig(baseUrl: string, opts: CodexProviderOptions = {}): CodexConfig {
  return {
    model: 'gpt-5.5',
    model_provider: 'mock',
    model_providers: {
      mock: {
        name: 'Mock Responses API',
        base_url: baseUrl,
        wire_api: 'responses',
        // Without env_key a custom provider ignores the SDK apiKey and sends no Authorization header.
        env_key: 'CODEX_API_KEY',
        supports_websockets: false,
        request_max_retries: 0,
        stream_max_retries: 0,
        stream_idle_timeout_ms: opts.streamIdleTimeoutMs ?? 30_000,
      },
    },
    analytics: { enabled: false },
    // unbounded_connection_retries defaults to true: a dead mock would hang the turn forever.
    features: { plugins: false, unbounded_connection_retries: false },
  };
}
