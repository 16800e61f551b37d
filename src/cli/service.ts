import { isAbsolute, join, posix } from 'node:path';
import { NETWORK_ENV } from '../agents/codex-sdk/env.js';
import { LarkcodeError } from '../core/errors.js';

/**
 * `larkcode daemon install`: a systemd user unit (Linux) or a launchd agent (macOS) that runs
 * `larkcode start` for one profile.
 *
 * A service manager starts larkcode with almost none of the login shell's environment: no PATH
 * beyond the system directories (so no codex from npm, nvm, Homebrew or ~/.local/bin), no proxy,
 * no CODEX_HOME. The few variables larkcode and codex need are therefore captured when the unit is
 * written (`capturedEnvironment`) and written into it. Secrets are never among them: config.json
 * refers to them (`env:NAME` or the file itself), so the unit — a plain file under ~/.config or
 * ~/Library — never holds the app secret or an API key.
 *
 * Everything here is pure: it returns file text, file locations and the commands to run as data,
 * so the CLI does the I/O and the tests check the output without touching a service manager.
 */

/** What a service runs. */
export interface ServiceSpec {
  /** `'default'` or a profile name (letters, digits, `-`, `_`; it goes into file names and labels). */
  profile: string;
  /** Absolute path of node (`process.execPath`). */
  nodePath: string;
  /** Absolute path of `bin/larkcode.js`. */
  larkcodeBin: string;
  /** LARKCODE_HOME for the service; overrides one found in `env`. */
  larkcodeHome?: string;
  /** The environment to capture from, usually `process.env`; only `capturedEnvironment` of it is used. */
  env: NodeJS.ProcessEnv;
  /** Absolute; the service's working directory. */
  workingDirectory: string;
  /** Absolute; the log file `larkcode-<profile>.log` goes here. The CLI creates the directory. */
  logDir: string;
}

/** The heap limit of bin/larkcode.js's shebang; the service runs node directly, so it repeats it. */
export const NODE_HEAP_FLAG = '--max-old-space-size=512';

/** Unit files and plists carry the proxy (credentials included, when the proxy URL has them): 0600. */
export const SERVICE_FILE_MODE = 0o600;

/** `larkcode start` exits with this on a config error; restarting cannot fix that (systemd). */
const EXIT_CONFIG = 78;

/**
 * The variables a service gets, each for a reason:
 * - PATH — codex, the tools codex runs (git, rg, compilers) and node installed by nvm / Homebrew /
 *   npm prefixes are found through the login PATH; a service manager's PATH has only /usr/bin:/bin.
 * - HTTP(S)_PROXY, NO_PROXY, ALL_PROXY, both cases — where Feishu or the model API is reached
 *   through a proxy, both larkcode and codex need it; tools differ in which case they read. A proxy
 *   URL may carry `user:password@`: it is captured anyway, since without it nothing connects (the
 *   file is written 0600).
 * - SSL_CERT_FILE, SSL_CERT_DIR, NODE_EXTRA_CA_CERTS — a TLS-intercepting proxy's CA; without it
 *   the proxy above is useless. Paths, not secrets.
 * - CODEX_HOME — which codex home (auth, config) the user set up for larkcode.
 * - LARKCODE_HOME — which larkcode profile directory; `ServiceSpec.larkcodeHome` overrides it.
 * - LANG, LC_ALL — codex and the tools it runs read and write non-ASCII text (file names, Chinese
 *   messages) in the user's locale; launchd starts agents without one.
 * HOME, USER and XDG_RUNTIME_DIR are set by systemd's user manager and by launchd themselves.
 */
const CAPTURED = ['PATH', ...NETWORK_ENV, 'CODEX_HOME', 'LARKCODE_HOME', 'LANG', 'LC_ALL'] as const;

/**
 * Never written into a service file, even if one were added to the list above: app secrets,
 * API keys, tokens, passwords. They stay where config.json points (`env:NAME`), so a unit file
 * that is read, backed up or pasted into a bug report gives nothing away.
 */
const SECRET_NAME = /SECRET|TOKEN|KEY|PASSWORD/i;

/** The allow-listed, non-empty variables of `env` (see CAPTURED for why each one). */
export function capturedEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const captured: Record<string, string> = {};
  for (const name of CAPTURED) {
    if (SECRET_NAME.test(name)) continue;
    const value = env[name];
    if (value === undefined || value === '') continue;
    captured[name] = checkText(name, value);
  }
  return captured;
}

/** What the service runs: node with the heap flag, bin/larkcode.js, `start`, `--profile` unless default. */
export function serviceArguments(spec: ServiceSpec): string[] {
  const profile = checkProfile(spec.profile);
  return [
    absolute('nodePath', spec.nodePath),
    NODE_HEAP_FLAG,
    absolute('larkcodeBin', spec.larkcodeBin),
    'start',
    ...(profile === 'default' ? [] : ['--profile', profile]),
  ];
}

/** The environment written into the service: the captured variables and LARKCODE_HOME. */
export function serviceEnvironment(spec: ServiceSpec): Record<string, string> {
  const env = capturedEnvironment(spec.env);
  if (spec.larkcodeHome !== undefined) env.LARKCODE_HOME = absolute('larkcodeHome', spec.larkcodeHome);
  return env;
}

export function logFileName(profile: string): string {
  return `larkcode-${checkProfile(profile)}.log`;
}

export function unitName(profile: string): string {
  return `larkcode-${checkProfile(profile)}.service`;
}

export function launchdLabel(profile: string): string {
  return `com.larkcode.${checkProfile(profile)}`;
}

// ---------------------------------------------------------------------------------------------
// systemd

/**
 * A systemd user unit. Quoting follows systemd.service(5) / systemd.exec(5), which differ per key:
 * - ExecStart: `%` specifiers are resolved over the whole line (`%%`), then words are split at
 *   whitespace with double quotes and C escapes (`\\`, `\"`), then `$VAR` is expanded in the
 *   arguments (`$$`). The executable itself is not variable-expanded, so its `$` stays single, and
 *   systemd refuses an executable path with a quote or backslash ("Executable name contains
 *   special characters") however it is quoted — such a node path is refused here, by name.
 * - Environment: specifiers and quoting/C escapes, but `$` has no special meaning.
 * - WorkingDirectory, StandardOutput=append: — the raw rest of the line after specifiers: `%%`
 *   only, no quotes (a quote would become part of the path).
 */
export function systemdUnit(spec: ServiceSpec): { name: string; text: string } {
  const name = unitName(spec.profile);
  const [executable, ...args] = serviceArguments(spec);
  const env = serviceEnvironment(spec);
  const workingDirectory = absolute('workingDirectory', spec.workingDirectory);
  if (/\s$/.test(workingDirectory))
    throw new LarkcodeError(
      'config',
      `workingDirectory ${JSON.stringify(workingDirectory)} ends in whitespace, which systemd strips`,
    );
  const logFile = join(absolute('logDir', spec.logDir), logFileName(spec.profile));
  const execStart = [systemdExecutable(executable!), ...args.map(systemdArgument)].join(' ');
  const lines = [
    `# Written by \`larkcode daemon install\`; \`larkcode daemon uninstall\` removes it.`,
    '# The environment was captured at install time; secrets stay in config.json (by reference).',
    '[Unit]',
    `Description=larkcode (profile ${spec.profile}): Feishu chats to coding agents`,
    'After=network-online.target',
    'Wants=network-online.target',
    // Five failed starts within five minutes (a broken install): stop retrying.
    'StartLimitIntervalSec=300',
    'StartLimitBurst=5',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${execStart}`,
    ...Object.entries(env).map(
      ([key, value]) => `Environment=${systemdQuote(`${key}=${value}`, { dollar: false })}`,
    ),
    `WorkingDirectory=${systemdRaw(workingDirectory)}`,
    'Restart=on-failure',
    'RestartSec=5',
    `RestartPreventExitStatus=${EXIT_CONFIG}`,
    // larkcode stops within 5 s of SIGTERM (daemon.stop(3500), hard exit at 4.5 s).
    'TimeoutStopSec=10',
    // SIGTERM to larkcode only (it stops its codex runs itself); SIGKILL to whatever is left.
    'KillMode=mixed',
    'NoNewPrivileges=yes',
    // larkcode writes its own rotated log (<state>/logs/larkcode.log.N); stdout would only
    // duplicate it, unrotated. stderr keeps what a crash prints before logging is up.
    'StandardOutput=null',
    `StandardError=append:${systemdRaw(logFile)}`,
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ];
  return { name, text: lines.join('\n') };
}

/** The executable word of ExecStart: `%%`, quoted if it has whitespace, `$` literal. */
function systemdExecutable(path: string): string {
  if (/["'\\]/.test(path))
    throw new LarkcodeError(
      'config',
      `systemd refuses to run an executable whose path contains a quote or a backslash: ${path} — ` +
        'install node somewhere without them (or link it there) and run `larkcode daemon install` with that node',
    );
  const escaped = path.replace(/%/g, '%%');
  return /\s/.test(path) ? `"${escaped}"` : escaped;
}

/** An argument word of ExecStart: quoted when it needs to be; `%` and `$` doubled. */
function systemdArgument(arg: string): string {
  if (arg !== '' && !/[\s"'\\;]/.test(arg)) return arg.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return systemdQuote(arg, { dollar: true });
}

/** A double-quoted word: `\` and `"` backslash-escaped, `%` → `%%`, and `$` → `$$` where it is expanded. */
function systemdQuote(value: string, options: { dollar: boolean }): string {
  let out = '';
  for (const ch of value) {
    if (ch === '\\' || ch === '"') out += `\\${ch}`;
    else if (ch === '%') out += '%%';
    else if (ch === '$' && options.dollar) out += '$$';
    else out += ch;
  }
  return `"${out}"`;
}

/** A path taken as the raw rest of the line: only specifiers are resolved. */
function systemdRaw(path: string): string {
  return path.replace(/%/g, '%%');
}

// ---------------------------------------------------------------------------------------------
// launchd

/**
 * A launchd agent (~/Library/LaunchAgents). launchd runs ProgramArguments directly (no shell) and
 * sets EnvironmentVariables verbatim, so the only escaping is XML's. It restarts larkcode when it
 * exits unsuccessfully (KeepAlive.SuccessfulExit = false), at most every 5 s, and gives it 10 s
 * after SIGTERM.
 */
export function launchdPlist(spec: ServiceSpec): { label: string; text: string } {
  const label = launchdLabel(spec.profile);
  const args = serviceArguments(spec);
  const env = serviceEnvironment(spec);
  const workingDirectory = absolute('workingDirectory', spec.workingDirectory);
  const logFile = join(absolute('logDir', spec.logDir), logFileName(spec.profile));
  const str = (value: string) => `<string>${xmlText(value)}</string>`;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<!-- Written by `larkcode daemon install`; `larkcode daemon uninstall` removes it.',
    '     The environment was captured at install time; secrets stay in config.json (by reference). -->',
    '<plist version="1.0">',
    '<dict>',
    '  <key>Label</key>',
    `  ${str(label)}`,
    '  <key>ProgramArguments</key>',
    '  <array>',
    ...args.map((arg) => `    ${str(arg)}`),
    '  </array>',
    '  <key>EnvironmentVariables</key>',
    '  <dict>',
    ...Object.entries(env).flatMap(([key, value]) => [`    <key>${xmlText(key)}</key>`, `    ${str(value)}`]),
    '  </dict>',
    '  <key>WorkingDirectory</key>',
    `  ${str(workingDirectory)}`,
    '  <key>RunAtLoad</key>',
    '  <true/>',
    '  <key>KeepAlive</key>',
    '  <dict>',
    '    <key>SuccessfulExit</key>',
    '    <false/>',
    '  </dict>',
    '  <key>StandardOutPath</key>',
    '  <string>/dev/null</string>',
    '  <key>StandardErrorPath</key>',
    `  ${str(logFile)}`,
    '  <key>ThrottleInterval</key>',
    '  <integer>5</integer>',
    '  <key>ExitTimeOut</key>',
    '  <integer>10</integer>',
    '</dict>',
    '</plist>',
    '',
  ];
  return { label, text: lines.join('\n') };
}

function xmlText(value: string): string {
  return value.replace(/[&<>"'\r]/g, (ch) => XML_ENTITIES[ch]!);
}

const XML_ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  // A literal CR would be read back as LF; checkText refuses control characters anyway.
  '\r': '&#13;',
};

// ---------------------------------------------------------------------------------------------
// where the file goes, and how it is driven

export type ServicePlatform = 'linux' | 'darwin';

export interface ServiceLocation {
  /** The unit name (linux) or the launchd label (darwin). */
  name: string;
  /** The directory the file goes into (the CLI creates it). */
  dir: string;
  /** The unit file or plist; write it with SERVICE_FILE_MODE. */
  file: string;
  /** Where the service's stdout and stderr go. */
  logFile: string;
}

/** Where the service file of `spec` goes: ~/.config/systemd/user/<unit>, ~/Library/LaunchAgents/<label>.plist. */
export function servicePaths(platform: NodeJS.Platform, home: string, spec: ServiceSpec): ServiceLocation {
  const supported = checkPlatform(platform);
  const logFile = join(absolute('logDir', spec.logDir), logFileName(spec.profile));
  if (supported === 'linux') {
    const dir = join(home, '.config', 'systemd', 'user');
    const name = unitName(spec.profile);
    return { name, dir, file: join(dir, name), logFile };
  }
  const dir = join(home, 'Library', 'LaunchAgents');
  const name = launchdLabel(spec.profile);
  return { name, dir, file: join(dir, `${name}.plist`), logFile };
}

/**
 * The commands that drive an installed service, as argv arrays, run in order; the CLI runs them,
 * tests read them.
 * - install: after writing the file. To reinstall over a running service, run `uninstall` first
 *   (ignoring its failure if nothing was installed), write the file, then `install`.
 * - uninstall: before deleting the file; `afterUninstall`: after deleting it.
 * - status may exit non-zero when the service is not running (systemctl: 3); show its output.
 * - logs: the log file (no journal: the unit appends to the file), and a `tail` to follow it.
 */
export interface ServiceCommands {
  install: string[][];
  uninstall: string[][];
  afterUninstall: string[][];
  start: string[][];
  stop: string[][];
  restart: string[][];
  status: string[][];
  logs: { file: string; follow: string[] };
  /** One-line hints for the person installing. */
  notes: string[];
}

export function serviceCommands(
  platform: NodeJS.Platform,
  name: string,
  where: { file: string; logFile: string; uid?: number },
): ServiceCommands {
  const supported = checkPlatform(platform);
  const logs = { file: where.logFile, follow: ['tail', '-n', '200', '-F', where.logFile] };
  if (supported === 'linux') {
    const systemctl = (...args: string[]) => ['systemctl', '--user', ...args];
    return {
      install: [systemctl('daemon-reload'), systemctl('enable', '--now', name)],
      uninstall: [systemctl('disable', '--now', name)],
      afterUninstall: [systemctl('daemon-reload')],
      start: [systemctl('start', name)],
      stop: [systemctl('stop', name)],
      restart: [systemctl('restart', name)],
      status: [systemctl('status', '--no-pager', name)],
      logs,
      notes: [
        'A user service stops when you log out, unless lingering is on: `loginctl enable-linger "$USER"`.',
      ],
    };
  }
  const uid = where.uid ?? process.getuid?.();
  if (uid === undefined)
    throw new LarkcodeError('config', 'cannot tell the user id for launchctl (gui/<uid>)');
  const domain = `gui/${uid}`;
  const target = `${domain}/${name}`;
  return {
    // enable first: a service once disabled (launchctl disable) refuses to bootstrap.
    install: [
      ['launchctl', 'enable', target],
      ['launchctl', 'bootstrap', domain, where.file],
    ],
    uninstall: [['launchctl', 'bootout', target]],
    afterUninstall: [],
    start: [['launchctl', 'kickstart', target]],
    // SIGTERM: larkcode exits 0, and KeepAlive restarts only unsuccessful exits.
    stop: [['launchctl', 'kill', 'SIGTERM', target]],
    restart: [['launchctl', 'kickstart', '-k', target]],
    status: [['launchctl', 'print', target]],
    logs,
    notes: ['The agent runs while you are logged in (gui domain) and starts again at your next login.'],
  };
}

// ---------------------------------------------------------------------------------------------
// checks

function checkPlatform(platform: NodeJS.Platform): ServicePlatform {
  if (platform === 'linux' || platform === 'darwin') return platform;
  throw new LarkcodeError(
    'config',
    `larkcode daemon supports Linux (systemd user units) and macOS (launchd agents), not ${platform}; ` +
      'run `larkcode start` under your own service manager instead',
  );
}

function checkProfile(profile: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(profile))
    throw new LarkcodeError(
      'config',
      `profile ${JSON.stringify(profile)}: use letters, digits, "-" and "_" (at most 64, starting with a letter or digit)`,
    );
  return profile;
}

/** An absolute, normalized POSIX path without control characters. */
function absolute(field: string, path: string): string {
  checkText(field, path);
  if (!isAbsolute(path) || !path.startsWith('/'))
    throw new LarkcodeError('config', `${field} must be an absolute path, got ${JSON.stringify(path)}`);
  const normalized = posix.normalize(path);
  return normalized.length > 1 && normalized.endsWith('/') ? normalized.slice(0, -1) : normalized;
}

/**
 * Control characters would end a unit file line (and can't be written in XML 1.0 at all); a lone
 * surrogate is not UTF-8, which systemd refuses. Neither belongs in a path or these variables.
 */
function checkText(field: string, value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(value) || /\p{Cs}/u.test(value))
    throw new LarkcodeError(
      'config',
      `${field} contains a control character or invalid Unicode: ${JSON.stringify(value)}`,
    );
  return value;
}
