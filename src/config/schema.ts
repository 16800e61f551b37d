import { z } from 'zod';
import { approvalRuleSetSchema, defaultApprovalRules } from '../policy/approval-rules.js';
import { secretRefSchema } from './secrets.js';

export const accessModes = ['read-only', 'workspace', 'full'] as const;
export type AccessMode = (typeof accessModes)[number];

const domainSchema = z.union([
  z.enum(['feishu', 'lark']),
  z
    .string()
    .url()
    .refine((u) => !u.endsWith('/'), { message: 'must not end with "/" (the SDK appends /open-apis/…)' }),
]);

/** `$LARKCODE_HOME/config.json`. Unknown keys are errors, so a typo never silently falls back to a default. */
export const configSchema = z
  .object({
    /** The app's `cli_…` id (16 hex digits), from the developer console. */
    appId: z.string().regex(/^cli_[0-9a-f]{16}$/i, {
      message: 'must be cli_ followed by 16 hex digits (the node-sdk ignores anything else)',
    }),
    /** The app secret, or a reference to it: `env:NAME`, `file:/path` (mode 0600), `exec:command`, `keystore:name`. */
    appSecret: secretRefSchema,
    /** `feishu`, `lark`, or a base URL (private deployments, the test emulator); no trailing `/`. */
    domain: domainSchema.default('feishu'),
    /** Default working directory for every scope (must exist; broad directories are refused). */
    workspace: z.string().min(1),
    /** Open id (ou_…) of the owner: always allowed. */
    owner: z.string().startsWith('ou_').optional(),
    /** Who may use the bot: user open ids (ou_…) and chat ids (oc_…, every member of that chat). */
    allowlist: z
      .array(z.string().regex(/^(ou|oc)_\w+$/, { message: 'entries are ou_… users or oc_… chats' }))
      .default([]),
    groups: z
      .object({
        /** In groups, answer only when the bot is @-mentioned (each group can change it with /config). */
        requireMention: z.boolean().default(true),
      })
      .strict()
      .default({ requireMention: true }),
    permissions: z
      .object({
        /** `read-only` / `workspace` / `full` → Codex sandbox `read-only` / `workspace-write` / `danger-full-access`. */
        defaultAccess: z.enum(accessModes).default('workspace'),
        /** The widest access an admin may give a chat (`full` is the owner's alone whatever this says). */
        maxAccess: z.enum(accessModes).default('workspace'),
        /** Let sandboxed commands use the network. */
        networkAccess: z.boolean().default(false),
        /** When set, /cd and /ws accept only directories inside these. */
        allowedRoots: z.array(z.string().min(1)).default([]),
      })
      .strict()
      .default({
        defaultAccess: 'workspace',
        maxAccess: 'workspace',
        networkAccess: false,
        allowedRoots: [],
      }),
    runs: z
      .object({
        /** Quiet window that merges quick messages into one run. */
        debounceMs: z.number().int().min(0).max(60_000).default(800),
        /** Stop a run with no agent activity for this long ("timeout"). Per chat: /timeout. */
        idleTimeoutSec: z.number().int().min(10).max(86_400).default(600),
        /** Wall-clock cap per run. */
        maxRunMinutes: z
          .number()
          .int()
          .min(1)
          .max(24 * 60)
          .default(60),
        /** Global cap on concurrent agent runs; more wait in line. */
        maxConcurrent: z.number().int().min(1).max(1000).default(4),
        /**
         * A message sent while a run is going: `steer` adds it to the running turn (where the agent
         * can: the app-server backend), `queue` keeps it for the next run. Per chat: /config.
         */
        midRunMessages: z.enum(['steer', 'queue']).default('steer'),
      })
      .strict()
      .default({
        debounceMs: 800,
        idleTimeoutSec: 600,
        maxRunMinutes: 60,
        maxConcurrent: 4,
        midRunMessages: 'steer',
      }),
    approvals: z
      .object({
        /**
         * When codex asks (app-server backend): `on-request` when it wants to leave the sandbox,
         * `untrusted` also before any command not known to be safe.
         */
        policy: z.enum(['on-request', 'untrusted']).default('on-request'),
        /** An approval nobody gives within this time is denied. */
        timeoutSec: z.number().int().min(1).max(86_400).default(300),
        /** A reminder is posted this long before the deadline (0: none). */
        remindBeforeSec: z.number().int().min(0).max(86_400).default(60),
        /** In groups, a dangerous action needs an approver other than the person who asked. */
        twoPersonInGroups: z.boolean().default(false),
        /** Who approves each risk: read-only commands, writes, dangerous actions (outside the workspace, network, no sandbox). */
        rules: approvalRuleSetSchema.default(defaultApprovalRules),
        /** Per workspace (absolute path): rules that replace the profile's for that workspace. */
        workspaces: z.record(z.string().startsWith('/'), approvalRuleSetSchema).default({}),
      })
      .strict()
      .default({
        policy: 'on-request',
        timeoutSec: 300,
        remindBeforeSec: 60,
        twoPersonInGroups: false,
        rules: defaultApprovalRules,
        workspaces: {},
      }),
    questions: z
      .object({
        /** A question card nobody answers within this time expires; the agent is told. */
        timeoutSec: z.number().int().min(1).max(86_400).default(300),
        /** Questions the agent may ask in one turn; after that it is told to decide alone. */
        maxPerTurn: z.number().int().min(0).max(100).default(8),
      })
      .strict()
      .default({ timeoutSec: 300, maxPerTurn: 8 }),
    codex: z
      .object({
        /** Passed to codex as `--config` overrides: model, model_provider, model_providers … */
        config: z.record(z.string(), z.unknown()).default({}),
        /**
         * How codex authenticates: `api-key` (the key below), `codex-home` (a `codex login` made for
         * larkcode in its own CODEX_HOME) or `inherit-user` (your own ~/.codex). Default: `api-key`
         * when a key is set, else `codex-home`.
         */
        auth: z.enum(['api-key', 'codex-home', 'inherit-user']).optional(),
        /**
         * `sdk`: `codex exec` per turn (@openai/codex-sdk). `app-server`: one long-lived `codex
         * app-server` (JSON-RPC) — text streams into the card as it is written.
         */
        backend: z.enum(['sdk', 'app-server']).default('sdk'),
        /** API key for codex, or a reference (`env:`, `file:`, `exec:`, `keystore:`); injected only into the codex child. */
        apiKey: secretRefSchema.optional(),
        /** CODEX_HOME for this profile; default: `<state>/codex-home` (isolated from ~/.codex). */
        home: z.string().min(1).optional(),
        /** Model slug; default: codex's own default (or `model` in `codex.config`). */
        model: z.string().min(1).optional(),
        /** Path to a codex binary; default: the one bundled with @openai/codex-sdk. */
        path: z.string().min(1).optional(),
      })
      .strict()
      .default({ config: {}, backend: 'sdk' }),
    strangers: z
      .object({
        /** Tell someone not allowed, once, in a private chat, that they are not (default: silence). */
        replyOnce: z.boolean().default(false),
      })
      .strict()
      .default({ replyOnce: false }),
    cards: z
      .object({
        /** Show the agent's reasoning summaries as a collapsed panel on run cards. */
        showReasoning: z.boolean().default(true),
      })
      .strict()
      .default({ showReasoning: true }),
    health: z
      .object({
        /** Serve `/metrics` (Prometheus text) and `/health` on a loopback address. */
        enabled: z.boolean().default(false),
        /** Loopback only: 127.0.0.1, ::1 or localhost. */
        host: z.enum(['127.0.0.1', '::1', 'localhost']).default('127.0.0.1'),
        /** Port for /metrics and /health (0: any free port). */
        port: z.number().int().min(0).max(65_535).default(9478),
      })
      .strict()
      .default({ enabled: false, host: '127.0.0.1', port: 9478 }),
    /** Log verbosity: `trace` … `error`. */
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
  })
  .strict();

export type LarkcodeConfig = z.infer<typeof configSchema>;
