import { realpathSync, statSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { isAbsolute, parse, resolve } from 'node:path';
import { LarkcodeError } from '../core/errors.js';

const SYSTEM_ROOTS = [
  '/bin',
  '/boot',
  '/dev',
  '/etc',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
  '/opt',
  '/proc',
  '/root',
  '/run',
  '/sbin',
  '/srv',
  '/sys',
  '/usr',
  '/var',
  '/mnt',
  '/media',
  '/home',
  '/Users',
  '/Volumes',
  '/System',
  '/Library',
  '/Applications',
  '/private',
  '/private/tmp',
  '/private/var',
  '/tmp',
  '/var/tmp',
];

/**
 * Resolve a workspace to its real path and refuse directories too broad to hand
 * to an agent: the filesystem root, home, Desktop/Downloads, system and temp roots.
 */
export function validateWorkspace(path: string, home = homedir()): string {
  if (!isAbsolute(path)) {
    throw new LarkcodeError('workspace', `workspace must be an absolute path, got "${path}"`);
  }
  let real: string;
  try {
    real = realpathSync(resolve(path));
  } catch {
    throw new LarkcodeError('workspace', `workspace ${path} does not exist`);
  }
  if (!statSync(real).isDirectory())
    throw new LarkcodeError('workspace', `workspace ${real} is not a directory`);

  const broad = new Set<string>([parse(real).root, ...SYSTEM_ROOTS, safeReal(home), safeReal(tmpdir())]);
  for (const name of ['Desktop', 'Downloads', 'Documents']) broad.add(safeReal(resolve(home, name)));
  if (broad.has(real)) {
    throw new LarkcodeError(
      'workspace',
      `workspace ${real} is too broad; choose a project directory inside it`,
    );
  }
  return real;
}

function safeReal(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}
