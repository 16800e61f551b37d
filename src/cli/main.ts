import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import { DEFAULT_PROFILE, resolvePaths } from '../config/paths.js';
import { LarkcodeError } from '../core/errors.js';
import { startPlayground } from '../playground/playground.js';
import { startDaemon } from '../runtime/daemon.js';
import { formatChecks, runDoctor } from '../runtime/doctor.js';
import { createInspection } from '../runtime/inspection.js';
import {
  acquireInstanceLock,
  defaultRegistryDir,
  listRunning,
  releaseOnExit,
} from '../runtime/instance-lock.js';
import { createLogger } from '../runtime/logger.js';
import { MACHINES, renderMachineDocs, writeMachineDocs } from '../runtime/machine-docs.js';
import { type InitAnswers, runInit } from './init.js';
import {
  launchdPlist,
  SERVICE_FILE_MODE,
  type ServiceSpec,
  serviceCommands,
  servicePaths,
  systemdUnit,
} from './service.js';

const EXIT_CONFIG = 78; // EX_CONFIG
const EXIT_FAILURE = 1;
/** Another larkcode already runs for this profile or app (EX_TEMPFAIL: try again once it stopped). */
const EXIT_LOCKED = 75;

const USAGE = `larkcode — drive coding agents on this machine from Feishu/Lark

Usage:
  larkcode start        run in the foreground (Ctrl-C or SIGTERM stops it)
      --inspect         serve a local page with the live actor system (Stately Inspector)
      --record <file>   append every inspection event to <file> as JSONL
  larkcode init         write a profile's config (asks in a terminal; or --app-id --app-secret
                        --domain --owner --workspace --allowed-root --auth --api-key [--force])
                        secrets typed in go to the profile's encrypted keystore
  larkcode playground   try it with no Feishu app: a local emulator and chat page on 127.0.0.1
      --offline         the real codex with a scripted mock model, even if you have credentials
      --port <n>        the chat page's port (default: any free one)
  larkcode machines [--out DIR]
                        the state machines as Mermaid diagrams (stdout), or Mermaid + JSON files
  larkcode status       which larkcode processes run on this machine
  larkcode doctor       check config, credentials, CardKit, codex, workspace, state (exit 1 on a problem)
  larkcode daemon install|uninstall|start|stop|status|logs
                        run larkcode as a user service (systemd on Linux, launchd on macOS)
  larkcode --version
  larkcode --help

Every command takes --profile <name> (default: "default"): a profile has its own config, app,
state, logs and sessions.

Config: $LARKCODE_HOME/config.json (default ~/.config/larkcode/config.json).
Env overrides: FEISHU_APP_ID, FEISHU_APP_SECRET, FEISHU_DOMAIN (feishu | lark | URL).`;

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
      inspect: { type: 'boolean' },
      record: { type: 'string' },
      profile: { type: 'string' },
      'app-id': { type: 'string' },
      'app-secret': { type: 'string' },
      domain: { type: 'string' },
      owner: { type: 'string' },
      workspace: { type: 'string' },
      'allowed-root': { type: 'string', multiple: true },
      auth: { type: 'string' },
      'api-key': { type: 'string' },
      force: { type: 'boolean' },
      interactive: { type: 'boolean' },
      offline: { type: 'boolean' },
      port: { type: 'string' },
      'or-playground': { type: 'boolean' },
      out: { type: 'string' },
    },
  });
  const profile = values.profile ?? DEFAULT_PROFILE;
  if (values.version) {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const command = positionals[0];
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return command || values.help ? 0 : 2;
  }
  if (command === 'playground')
    return playground({ offline: values.offline ?? false, port: Number(values.port ?? 0) });
  // `npm start` on a machine with no Feishu app configured: the playground instead of an error.
  if (
    command === 'start' &&
    values['or-playground'] &&
    !existsSync(resolvePaths(process.env, profile).configFile) &&
    !process.env.FEISHU_APP_ID
  ) {
    process.stdout.write(
      'No Feishu app is configured (larkcode init sets one up); starting the local playground.\n',
    );
    return playground({ offline: values.offline ?? false, port: Number(values.port ?? 0) });
  }
  if (command === 'start')
    return start({
      profile,
      inspect: values.inspect ?? false,
      ...(values.record ? { record: values.record } : {}),
    });
  if (command === 'init') {
    const written = await runInit(
      resolvePaths(process.env, profile),
      {
        ...(values['app-id'] ? { appId: values['app-id'] } : {}),
        ...(values['app-secret'] ? { appSecret: values['app-secret'] } : {}),
        ...(values.domain ? { domain: values.domain } : {}),
        ...(values.owner ? { owner: values.owner } : {}),
        ...(values.workspace ? { workspace: values.workspace } : {}),
        ...(values['allowed-root'] ? { allowedRoots: values['allowed-root'] } : {}),
        ...(values.auth ? { auth: values.auth as InitAnswers['auth'] } : {}),
        ...(values['api-key'] ? { apiKey: values['api-key'] } : {}),
      },
      {
        interactive: values.interactive ?? Boolean(process.stdin.isTTY),
        force: values.force ?? false,
        env: process.env,
      },
    );
    process.stdout.write(
      `Wrote ${written}. Next: larkcode doctor, then larkcode start (or larkcode daemon install).\n`,
    );
    return 0;
  }
  if (command === 'status') return status();
  if (command === 'machines') {
    const files = renderMachineDocs(MACHINES);
    if (values.out) {
      writeMachineDocs(values.out, files);
      process.stdout.write(`wrote ${files.size} files to ${values.out}\n`);
    } else process.stdout.write(files.get('README.md') ?? '');
    return 0;
  }
  if (command === 'doctor') return doctor(profile);
  if (command === 'daemon') return daemonCommand(positionals[1], profile);
  process.stderr.write(`larkcode: unknown command "${command}"\n\n${USAGE}\n`);
  return 2;
}

async function start(flags: { profile: string; inspect: boolean; record?: string }): Promise<number> {
  const paths = resolvePaths(process.env, flags.profile);
  const config = loadConfig(paths.configFile, process.env, paths.stateDir);
  // Before anything connects: two listeners on one app split Feishu's events at random.
  const lock = acquireInstanceLock({
    stateDir: paths.stateDir,
    registryDir: defaultRegistryDir(process.env, homedir()),
    profile: paths.profile,
    appId: config.appId,
    version: packageVersion(),
  });
  releaseOnExit(lock);
  const logger = createLogger(config.logLevel, {
    logDir: paths.logDir,
    pretty: Boolean(process.stdout.isTTY),
  });
  const inspection = createInspection({
    inspect: flags.inspect,
    ...(flags.record ? { recordFile: flags.record } : {}),
    logger,
  });
  // /exit from an admin in chat stops larkcode the way a signal does.
  let requestExit: (reason: string) => void = () => {};
  const daemon = await startDaemon({
    config,
    paths,
    logger,
    ...(inspection.observer ? { inspect: inspection.observer } : {}),
    onExit: () => requestExit('/exit'),
  });

  return new Promise<number>((resolve) => {
    // `on`, not `once`: conf's when-exit re-raises the signal after its own handler runs.
    const onSignal = (signal: NodeJS.Signals | string) => {
      logger.info({ signal }, 'signal received');
      const hardStop = setTimeout(() => resolve(EXIT_FAILURE), 4500);
      hardStop.unref();
      daemon
        .stop(3500)
        .then(() => inspection.stop())
        .then(
          () => resolve(0),
          (error) => {
            logger.error({ err: error }, 'shutdown failed');
            resolve(EXIT_FAILURE);
          },
        );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    requestExit = onSignal;
  });
}

async function playground(flags: { offline: boolean; port: number }): Promise<number> {
  const logger = createLogger('warn');
  const running = await startPlayground({
    offline: flags.offline,
    port: flags.port,
    env: process.env,
    logger,
  });
  process.stdout.write(
    `larkcode playground (local, not connected to Feishu): ${running.url}\n` +
      (running.mode === 'offline'
        ? 'No agent credentials found (OPENAI_API_KEY, CODEX_API_KEY or ~/.codex): this is the offline demo — the real codex binary with a scripted mock model.\n'
        : 'codex runs with your credentials in a scratch workspace.\n') +
      `Workspace: ${running.workspace}\nCtrl-C stops it.\n`,
  );
  return new Promise<number>((resolve) => {
    const stop = () =>
      void running.stop().then(
        () => resolve(0),
        () => resolve(EXIT_FAILURE),
      );
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

function status(): number {
  const running = listRunning(defaultRegistryDir(process.env, homedir()));
  if (running.length === 0) {
    process.stdout.write('No larkcode is running.\n');
    return 3; // LSB "not running"
  }
  for (const p of running) {
    process.stdout.write(
      `pid ${p.pid}  profile ${p.profile}  app ${p.appId}  since ${p.startedAt}  state ${p.stateDir}\n`,
    );
  }
  return 0;
}

async function doctor(profile: string): Promise<number> {
  const paths = resolvePaths(process.env, profile);
  const checks = await runDoctor(paths, {
    env: process.env,
    registryDir: defaultRegistryDir(process.env, homedir()),
  });
  process.stdout.write(`${formatChecks(checks)}\n`);
  return checks.every((c) => c.ok) ? 0 : 1;
}

function daemonCommand(action: string | undefined, profile: string): number {
  const platform = process.platform;
  if (platform !== 'linux' && platform !== 'darwin') {
    throw new LarkcodeError(
      'config',
      'larkcode daemon supports Linux (systemd) and macOS (launchd); run larkcode start under your own supervisor',
    );
  }
  const paths = resolvePaths(process.env, profile);
  const spec: ServiceSpec = {
    profile,
    nodePath: process.execPath,
    larkcodeBin: fileURLToPath(new URL('../../../bin/larkcode.js', import.meta.url)),
    ...(process.env.LARKCODE_HOME ? { larkcodeHome: process.env.LARKCODE_HOME } : {}),
    env: process.env,
    workingDirectory: homedir(),
    logDir: paths.logDir,
  };
  const location = servicePaths(platform, homedir(), spec);
  const commands = serviceCommands(platform, location.name, {
    ...location,
    ...(process.getuid ? { uid: process.getuid() } : {}),
  });
  const run = (steps: string[][], { ignoreFailure = false } = {}) => {
    for (const [bin, ...args] of steps) {
      const result = spawnSync(bin!, args, { stdio: 'inherit' });
      if (result.status !== 0 && !ignoreFailure) return result.status ?? 1;
    }
    return 0;
  };
  switch (action) {
    case 'install': {
      // Loads the config first, so a broken setup fails here, not in a restart loop.
      loadConfig(paths.configFile, process.env, paths.stateDir);
      const raw = readFileSync(paths.configFile, 'utf8');
      const envRefs = [...raw.matchAll(/"env:([A-Za-z_][A-Za-z0-9_]*)"/g)].map((m) => m[1]);
      if (envRefs.length > 0) {
        process.stderr.write(
          `Warning: the service does not get secrets from your shell (${envRefs.join(', ')}): use file:, exec: or keystore: references for them (larkcode init stores typed-in secrets in the keystore).\n`,
        );
      }
      mkdirSync(paths.logDir, { recursive: true, mode: 0o700 });
      mkdirSync(location.dir, { recursive: true });
      run(commands.uninstall, { ignoreFailure: true });
      const text = platform === 'linux' ? systemdUnit(spec).text : launchdPlist(spec).text;
      writeFileSync(location.file, text, { mode: SERVICE_FILE_MODE });
      process.stdout.write(`Wrote ${location.file}\n`);
      for (const note of commands.notes) process.stdout.write(`${note}\n`);
      return run(commands.install);
    }
    case 'uninstall': {
      run(commands.uninstall, { ignoreFailure: true });
      rmSync(location.file, { force: true });
      process.stdout.write(`Removed ${location.file}\n`);
      return run(commands.afterUninstall, { ignoreFailure: true });
    }
    case 'start':
      return run(commands.start);
    case 'stop':
      return run(commands.stop);
    case 'status':
      return run(commands.status);
    case 'logs': {
      // larkcode's own rotated log; the newest file is the one being written.
      const newest = (existsSync(paths.logDir) ? readdirSync(paths.logDir, { withFileTypes: true }) : [])
        .filter((f) => f.isFile() && /^larkcode\.log\.\d+$/.test(f.name))
        .map((f) => join(paths.logDir, f.name))
        .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
      return run([['tail', '-n', '200', '-F', newest ?? commands.logs.file]]);
    }
    default:
      process.stderr.write('larkcode daemon install|uninstall|start|stop|status|logs\n');
      return 2;
  }
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof LarkcodeError) {
      process.stderr.write(`larkcode: ${error.message}\n`);
      const kind = error.kind;
      process.exit(
        kind === 'lock'
          ? EXIT_LOCKED
          : kind === 'config' || kind === 'workspace'
            ? EXIT_CONFIG
            : EXIT_FAILURE,
      );
    }
    // A wrong option is a usage error, not a crash.
    if ((error as NodeJS.ErrnoException)?.code?.startsWith?.('ERR_PARSE_ARGS')) {
      process.stderr.write(`larkcode: ${(error as Error).message}\n\n${USAGE}\n`);
      process.exit(2);
    }
    process.stderr.write(
      `larkcode: unexpected error: ${error instanceof Error ? error.stack : String(error)}\n`,
    );
    process.exit(EXIT_FAILURE);
  },
);
