/**
 * `npm run machines`: generate docs/machines/ from the machine definitions (src/runtime/machine-docs.ts).
 * `--check` writes nothing and exits 1 listing the stale files.
 */
import { realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  DOCS_DIR,
  findStaleDocs,
  MACHINES,
  renderMachineDocs,
  writeMachineDocs,
} from '../src/runtime/machine-docs.js';

export * from '../src/runtime/machine-docs.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function main(argv: string[]): number {
  const dir = join(REPO_ROOT, DOCS_DIR);
  const files = renderMachineDocs(MACHINES);
  if (argv.includes('--check')) {
    const stale = findStaleDocs(dir, files);
    if (stale.length === 0) return 0;
    process.stderr.write(
      `${DOCS_DIR} is stale: run npm run machines\n${stale.map((f) => `  ${DOCS_DIR}/${f}`).join('\n')}\n`,
    );
    return 1;
  }
  writeMachineDocs(dir, files);
  process.stdout.write(`wrote ${files.size} files to ${DOCS_DIR}/\n`);
  return 0;
}

const invokedPath = process.argv[1];
if (invokedPath && import.meta.url === pathToFileURL(realpathSync(invokedPath)).href) {
  process.exitCode = main(process.argv.slice(2));
}
