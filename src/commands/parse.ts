/**
 * Commands larkcode answers itself, recognised before anything reaches the agent. A `/x`
 * that is not ours goes to the agent as it is (the agent may have its own).
 */
export type ParsedInput =
  | { kind: 'text'; text: string }
  | { kind: 'stop' }
  | { kind: 'steer'; text: string }
  | { kind: 'new'; prompt?: string }
  | { kind: 'reset' }
  | { kind: 'timeout'; seconds?: number }
  | { kind: 'resume' }
  | { kind: 'fork' }
  | { kind: 'archive' }
  | { kind: 'sessions' }
  | { kind: 'switch'; index: number }
  | { kind: 'cd'; path: string }
  | { kind: 'ws'; op: 'list' }
  | { kind: 'ws'; op: 'add'; alias: string; path: string }
  | { kind: 'ws'; op: 'use' | 'rm'; alias: string }
  | { kind: 'status' }
  | { kind: 'help' }
  | { kind: 'invite' | 'remove'; role: GrantKind }
  | { kind: 'config' }
  | { kind: 'doctor' }
  | { kind: 'ps' }
  | { kind: 'exit' }
  | { kind: 'reconnect' }
  | { kind: 'invalid'; command: string; reply: string };

export type GrantKind = 'user' | 'admin' | 'group';
export type CommandKind = Exclude<ParsedInput['kind'], 'text' | 'invalid'>;

export const MIN_IDLE_TIMEOUT_S = 10;
export const MAX_IDLE_TIMEOUT_S = 24 * 60 * 60;

export type CommandGroup = 'Session' | 'Workspace' | 'Run control' | 'Info' | 'Admin';

/** Every command: how it is written, what it does, and whether it needs an admin (seed 004 §5.4). */
export interface CommandInfo {
  kind: CommandKind;
  names: readonly string[];
  usage: string;
  summary: string;
  group: CommandGroup;
  adminOnly: boolean;
}

export const COMMANDS: readonly CommandInfo[] = [
  {
    kind: 'new',
    names: ['new'],
    usage: '/new [prompt]',
    summary: 'start a fresh session (then run the prompt)',
    group: 'Session',
    adminOnly: false,
  },
  {
    kind: 'reset',
    names: ['reset'],
    usage: '/reset',
    summary: 'fresh session, and this chat back to the default workspace and access',
    group: 'Session',
    adminOnly: false,
  },
  {
    kind: 'resume',
    names: ['resume'],
    usage: '/resume',
    summary: "pick one of this chat's past sessions to continue",
    group: 'Session',
    adminOnly: false,
  },
  {
    kind: 'fork',
    names: ['fork'],
    usage: '/fork',
    summary: 'continue in a copy of this session (the original stays as it is)',
    group: 'Session',
    adminOnly: false,
  },
  {
    kind: 'archive',
    names: ['archive'],
    usage: '/archive',
    summary: 'archive this session and start a fresh one',
    group: 'Session',
    adminOnly: false,
  },
  {
    kind: 'sessions',
    names: ['sessions', 'list'],
    usage: '/sessions',
    summary: "this chat's sessions, numbered",
    group: 'Session',
    adminOnly: false,
  },
  {
    kind: 'switch',
    names: ['switch'],
    usage: '/switch <n>',
    summary: 'continue session n from /sessions',
    group: 'Session',
    adminOnly: false,
  },
  {
    kind: 'cd',
    names: ['cd'],
    usage: '/cd <path>',
    summary: 'change this chat’s workspace (asks to confirm)',
    group: 'Workspace',
    adminOnly: true,
  },
  {
    kind: 'ws',
    names: ['ws'],
    usage: '/ws [add <alias> <path> | use <alias> | rm <alias>]',
    summary: 'named workspaces',
    group: 'Workspace',
    adminOnly: true,
  },
  {
    kind: 'stop',
    names: ['stop'],
    usage: '/stop',
    summary: 'stop the run; queued messages are kept',
    group: 'Run control',
    adminOnly: false,
  },
  {
    kind: 'steer',
    names: [],
    usage: '!text',
    summary: 'stop the run and run text next, at once',
    group: 'Run control',
    adminOnly: false,
  },
  {
    kind: 'timeout',
    names: ['timeout'],
    usage: '/timeout [seconds]',
    summary: 'show or set the idle timeout',
    group: 'Run control',
    adminOnly: false,
  },
  {
    kind: 'status',
    names: ['status'],
    usage: '/status',
    summary: 'workspace, access, agent, session, run and queue, connection',
    group: 'Info',
    adminOnly: false,
  },
  { kind: 'help', names: ['help'], usage: '/help', summary: 'this list', group: 'Info', adminOnly: false },
  {
    kind: 'invite',
    names: ['invite'],
    usage: '/invite user|admin @someone, /invite group',
    summary: 'let someone (or this group) use the bot',
    group: 'Admin',
    adminOnly: true,
  },
  {
    kind: 'remove',
    names: ['remove'],
    usage: '/remove user|admin @someone, /remove group',
    summary: 'take that back',
    group: 'Admin',
    adminOnly: true,
  },
  {
    kind: 'config',
    names: ['config'],
    usage: '/config',
    summary: 'core settings, as a card',
    group: 'Admin',
    adminOnly: true,
  },
  {
    kind: 'doctor',
    names: ['doctor'],
    usage: '/doctor',
    summary: 'check credentials, agent, workspace, state',
    group: 'Admin',
    adminOnly: true,
  },
  {
    kind: 'ps',
    names: ['ps'],
    usage: '/ps',
    summary: 'runs going on in every chat',
    group: 'Admin',
    adminOnly: true,
  },
  {
    kind: 'exit',
    names: ['exit'],
    usage: '/exit',
    summary: 'stop larkcode (runs are reported interrupted)',
    group: 'Admin',
    adminOnly: true,
  },
  {
    kind: 'reconnect',
    names: ['reconnect'],
    usage: '/reconnect',
    summary: 'reconnect to Feishu',
    group: 'Admin',
    adminOnly: true,
  },
];

const BY_NAME = new Map(COMMANDS.flatMap((c) => c.names.map((n) => [n, c] as const)));

export function commandInfo(kind: CommandKind): CommandInfo {
  return COMMANDS.find((c) => c.kind === kind) as CommandInfo;
}

export function parseInput(raw: string): ParsedInput {
  const text = raw.trim();
  if (text.startsWith('!') && text.length > 1) {
    return { kind: 'steer', text: text.slice(1).trim() };
  }
  const match = /^\/(\w+)(?:\s+([\s\S]*))?$/.exec(text);
  if (!match) return { kind: 'text', text: raw };
  const name = match[1]!.toLowerCase();
  const args = match[2]?.trim() ?? '';
  const command = BY_NAME.get(name);
  if (!command) return { kind: 'text', text: raw };
  const invalid = (reply: string): ParsedInput => ({ kind: 'invalid', command: `/${name}`, reply });
  const noArgs = (parsed: ParsedInput): ParsedInput =>
    args ? invalid(`${command.usage} takes no arguments.`) : parsed;

  switch (command.kind) {
    case 'stop':
      return { kind: 'stop' };
    case 'new':
      return args ? { kind: 'new', prompt: args } : { kind: 'new' };
    case 'timeout': {
      if (!args) return { kind: 'timeout' };
      const seconds = Number(args);
      if (!Number.isInteger(seconds) || seconds < MIN_IDLE_TIMEOUT_S || seconds > MAX_IDLE_TIMEOUT_S) {
        return invalid(
          `/timeout takes whole seconds from ${MIN_IDLE_TIMEOUT_S} to ${MAX_IDLE_TIMEOUT_S}, e.g. /timeout 900. Got "${args}".`,
        );
      }
      return { kind: 'timeout', seconds };
    }
    case 'switch': {
      const index = Number(args);
      if (!args || !Number.isInteger(index) || index < 1) {
        return invalid('/switch takes the number of a session from /sessions, e.g. /switch 2.');
      }
      return { kind: 'switch', index };
    }
    case 'cd':
      return args ? { kind: 'cd', path: args } : invalid('/cd takes a directory, e.g. /cd ~/code/project.');
    case 'ws':
      return parseWs(args, invalid);
    case 'invite':
    case 'remove': {
      const role = args.split(/\s+/)[0]?.toLowerCase();
      if (role === 'user' || role === 'admin' || role === 'group') return { kind: command.kind, role };
      return invalid(`${command.usage}`.replace(/^/, 'Usage: '));
    }
    default:
      return noArgs({ kind: command.kind } as ParsedInput);
  }
}

function parseWs(args: string, invalid: (reply: string) => ParsedInput): ParsedInput {
  if (!args) return { kind: 'ws', op: 'list' };
  const [op, alias, ...rest] = args.split(/\s+/);
  switch (op?.toLowerCase()) {
    case 'add':
      if (alias && rest.length > 0) return { kind: 'ws', op: 'add', alias, path: rest.join(' ') };
      return invalid('Usage: /ws add <alias> <path>, e.g. /ws add api ~/code/api');
    case 'use':
    case 'rm':
      if (alias && rest.length === 0) return { kind: 'ws', op: op.toLowerCase() as 'use' | 'rm', alias };
      return invalid(`Usage: /ws ${op.toLowerCase()} <alias>`);
    case 'list':
      return { kind: 'ws', op: 'list' };
    default:
      return invalid('Usage: /ws, /ws add <alias> <path>, /ws use <alias>, /ws rm <alias>');
  }
}
