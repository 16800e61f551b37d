import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import { resolvePaths } from '../config/paths.js';
import { LarkcodeError } from '../core/errors.js';
import { startDaemon } from '../runtime/daemon.js';
import { createInspection } from '../runtime/inspection.js';
import { acquireInstanceLock, defaultRegistryDir, releaseOnExit } from '../runtime/instance-lock.js';
import { createLogger } from '../runtime/logger.js';

const EXIT_CONFIG = 78; // EX_CONFIG
const EXIT_FAILURE = 1;
/** Another larkcode already runs for this profile or app (EX_TEMPFAIL: try again once it stopped). */
const EXIT_LOCKED = 75;

const USAGE = `larkcode — drive coding agents on this machine from Feishu/Lark

Usage:
  larkcode start        run in the foreground (Ctrl-C or SIGTERM stops it)
      --inspect         serve a local page with the live actor system (Stately Inspector)
      --record <file>   append every inspection event to <file> as JSONL
  larkcode --version
  larkcode --help

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
    },
  });
  if (values.version) {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const command = positionals[0];
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return command || values.help ? 0 : 2;
  }
  if (command === 'start')
    return start({ inspect: values.inspect ?? false, ...(values.record ? { record: values.record } : {}) });
  process.stderr.write(`larkcode: unknown command "${command}"\n\n${USAGE}\n`);
  return 2;
}

async function start(flags: { inspect: boolean; record?: string }): Promise<number> {
  const paths = resolvePaths();
  const config = loadConfig(paths.configFile, process.env, paths.stateDir);
  // Before anything connects: two listeners on one app split Feishu's events at random.
  const lock = acquireInstanceLock({
    stateDir: paths.stateDir,
    registryDir: defaultRegistryDir(process.env, homedir()),
    profile: 'default',
    appId: config.appId,
    version: packageVersion(),
  });
  releaseOnExit(lock);
  const logger = createLogger(config.logLevel);
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
    process.stderr.write(
      `larkcode: unexpected error: ${error instanceof Error ? error.stack : String(error)}\n`,
    );
    process.exit(EXIT_FAILURE);
  },
);
