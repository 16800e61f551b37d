import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LarkcodeError } from '../../src/core/errors.js';
import { resolveWorkspace, validateWorkspace, type WorkspaceRules } from '../../src/policy/workspace.js';

// The tree is built at load time: the table below needs its paths. realpath: on macOS the temp
// directory sits behind /var -> /private/var, and accepted cases return real paths.
const tree = realpathSync.native(mkdtempSync(join(tmpdir(), 'larkcode-ws-')));
const ROOT = join(tree, 'allowed-root');
const EVIL = join(tree, 'allowed-root-evil');
const OUTSIDE = join(tree, 'outside');
const HOME = join(tree, 'home', 'alice');
const APP = join(ROOT, 'app');
const CHINESE = join(ROOT, '项目');

for (const dir of [
  join(APP, 'src'),
  CHINESE,
  EVIL,
  OUTSIDE,
  join(HOME, 'Desktop', 'proj'),
  join(HOME, 'Downloads'),
  join(HOME, 'cloud', 'Documents'),
  join(HOME, 'code'),
]) {
  mkdirSync(dir, { recursive: true });
}
writeFileSync(join(ROOT, 'README.md'), 'not a directory\n');
symlinkSync('app', join(ROOT, 'link-app'));
symlinkSync('/etc', join(ROOT, 'link-etc'));
symlinkSync('/usr/share', join(ROOT, 'link-usr-share'));
symlinkSync(HOME, join(ROOT, 'link-home'));
symlinkSync('/', join(ROOT, 'link-root'));
symlinkSync('../outside', join(ROOT, 'escape'));
symlinkSync('loop-b', join(ROOT, 'loop-a'));
symlinkSync('loop-a', join(ROOT, 'loop-b'));
symlinkSync('nowhere', join(ROOT, 'dangling'));
// As iCloud does it: ~/Documents is a symlink to where the files are synced.
symlinkSync('cloud/Documents', join(HOME, 'Documents'));

// rmSync removes symlinks, it never follows them: /etc and / are safe.
afterAll(() => rmSync(tree, { recursive: true, force: true }));

/** Inside the allowed root only. */
const strict: WorkspaceRules = { home: HOME, allowedRoots: [ROOT] };
/** No allowed roots: only the broadness rules apply. */
const open: WorkspaceRules = { home: HOME };
/** `/cd` from a scope whose workspace is the app. */
const fromApp: WorkspaceRules = { ...strict, base: APP };

type Outcome = { accept: string } | { refuse: RegExp };
interface Case {
  name: string;
  input: string;
  rules: WorkspaceRules;
  expect: Outcome;
}

const esc = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const isDir = (path: string) => existsSync(path) && statSync(path).isDirectory();
/** Machine-dependent paths: refused for what they are when present, as nonexistent otherwise. */
const ifExists = (path: string, refused: RegExp) => ({ refuse: isDir(path) ? refused : /does not exist/ });
const mounted = existsSync('/mnt')
  ? readdirSync('/mnt').find((name) => isDir(join('/mnt', name)))
  : undefined;

const cases: Case[] = [
  // Accepted: plain, normalised, through symlinks that stay inside, non-ASCII names.
  { name: 'a project inside the root', input: APP, rules: strict, expect: { accept: APP } },
  { name: 'the allowed root itself', input: ROOT, rules: strict, expect: { accept: ROOT } },
  { name: 'trailing slashes', input: `${APP}///`, rules: strict, expect: { accept: APP } },
  { name: '`..` that comes back', input: `${APP}/../app/./`, rules: strict, expect: { accept: APP } },
  {
    name: 'surrounding blanks and a final newline',
    input: `  ${APP}\n`,
    rules: strict,
    expect: { accept: APP },
  },
  {
    name: 'a symlink that stays inside',
    input: join(ROOT, 'link-app'),
    rules: strict,
    expect: { accept: APP },
  },
  { name: 'a Chinese directory name', input: CHINESE, rules: strict, expect: { accept: CHINESE } },
  { name: 'relative with a base', input: './src', rules: fromApp, expect: { accept: join(APP, 'src') } },
  { name: 'relative Chinese with a base', input: '../项目', rules: fromApp, expect: { accept: CHINESE } },
  { name: '`..` from the base up to the root', input: '..', rules: fromApp, expect: { accept: ROOT } },
  {
    name: '~/ inside Desktop',
    input: '~/Desktop/proj',
    rules: open,
    expect: { accept: join(HOME, 'Desktop', 'proj') },
  },
  {
    name: 'no roots: anywhere ordinary',
    input: OUTSIDE,
    rules: { home: HOME, allowedRoots: [] },
    expect: { accept: OUTSIDE },
  },
  {
    name: 'an allowed root given through a symlink',
    input: join(APP, 'src'),
    rules: { home: HOME, allowedRoots: [join(ROOT, 'link-app')] },
    expect: { accept: join(APP, 'src') },
  },

  // Escapes out of the allowed root.
  {
    name: '`..` escape',
    input: `${APP}/../../outside`,
    rules: strict,
    expect: {
      refuse: new RegExp(`^${esc(OUTSIDE)} is outside the allowed workspace roots \\(${esc(ROOT)}\\)`),
    },
  },
  {
    name: '`..` escape to /etc',
    input: `${APP}${'/..'.repeat(40)}/etc`,
    rules: strict,
    expect: { refuse: /^\/etc is a system directory/ },
  },
  {
    name: 'relative `..` escape from the base',
    input: '../../outside',
    rules: fromApp,
    expect: { refuse: /outside the allowed/ },
  },
  {
    name: 'relative `..` to a parent of home',
    input: '../..',
    rules: fromApp,
    expect: { refuse: /contains your home directory/ },
  },
  { name: 'prefix trick: root-evil', input: EVIL, rules: strict, expect: { refuse: /outside the allowed/ } },
  {
    name: 'prefix trick via `..`',
    input: `${ROOT}/../allowed-root-evil/`,
    rules: strict,
    expect: { refuse: /outside the allowed/ },
  },
  {
    name: 'a symlink inside escaping it',
    input: join(ROOT, 'escape'),
    rules: strict,
    expect: { refuse: new RegExp(`^${esc(OUTSIDE)} is outside`) },
  },
  {
    name: '~/code outside the root',
    input: '~/code',
    rules: strict,
    expect: { refuse: /outside the allowed/ },
  },

  // Symlinks judged by their target.
  {
    name: 'symlink to /etc',
    input: join(ROOT, 'link-etc'),
    rules: strict,
    // macOS: /etc -> /private/etc.
    expect: { refuse: /^(\/private)?\/etc is a system directory/ },
  },
  {
    name: 'symlink into /usr',
    input: join(ROOT, 'link-usr-share'),
    rules: open,
    expect: { refuse: /is inside \/usr, a system directory/ },
  },
  {
    name: 'symlink to home',
    input: join(ROOT, 'link-home'),
    rules: open,
    expect: { refuse: /is your home directory/ },
  },
  {
    name: 'symlink to /',
    input: join(ROOT, 'link-root'),
    rules: strict,
    expect: { refuse: /^\/ is the whole filesystem/ },
  },
  {
    name: 'symlink loop',
    input: join(ROOT, 'loop-a'),
    rules: strict,
    expect: { refuse: /is a symbolic link loop/ },
  },
  {
    name: 'dangling symlink',
    input: join(ROOT, 'dangling'),
    rules: strict,
    expect: { refuse: /dangling does not exist/ },
  },

  // Not a directory.
  {
    name: 'nonexistent',
    input: join(ROOT, 'nope'),
    rules: strict,
    expect: { refuse: new RegExp(`^${esc(join(ROOT, 'nope'))} does not exist; check`) },
  },
  {
    name: 'a file',
    input: join(ROOT, 'README.md'),
    rules: strict,
    expect: { refuse: /README\.md is not a directory/ },
  },
  {
    name: 'below a file',
    input: join(ROOT, 'README.md', 'x'),
    rules: strict,
    expect: { refuse: /does not exist/ },
  },

  // Home and the folders too broad to hand over.
  {
    name: '~',
    input: '~',
    rules: open,
    expect: { refuse: new RegExp(`^${esc(HOME)} is your home directory`) },
  },
  { name: '~/', input: '~/', rules: open, expect: { refuse: /is your home directory/ } },
  { name: '~/Desktop', input: '~/Desktop', rules: open, expect: { refuse: /is your Desktop folder/ } },
  {
    name: '~/Downloads/',
    input: '~/Downloads/',
    rules: open,
    expect: { refuse: /is your Downloads folder/ },
  },
  {
    name: '~/Documents through its symlink',
    input: '~/Documents',
    rules: open,
    expect: { refuse: /is your Documents folder/ },
  },
  {
    name: 'Documents where its symlink leads',
    input: join(HOME, 'cloud', 'Documents'),
    rules: open,
    expect: { refuse: /cloud\/Documents is your Documents folder/ },
  },
  {
    name: '~//etc is home/etc, not /etc',
    input: '~//etc',
    rules: open,
    expect: { refuse: new RegExp(`^${esc(join(HOME, 'etc'))} does not exist`) },
  },
  { name: '~user', input: '~root', rules: open, expect: { refuse: /only '~' and '~\/…'/ } },
  {
    name: 'a parent of home',
    input: join(tree, 'home'),
    rules: open,
    expect: { refuse: /contains your home directory/ },
  },

  // Filesystem, system, temp, user and mount roots.
  { name: '/', input: '/', rules: strict, expect: { refuse: /^\/ is the whole filesystem/ } },
  { name: '//', input: '//', rules: strict, expect: { refuse: /^\/ is the whole filesystem/ } },
  { name: '/etc', input: '/etc', rules: open, expect: { refuse: /^\/etc is a system directory/ } },
  {
    name: '/etc/ssh (judged as typed, present or not)',
    input: '/etc/ssh',
    rules: open,
    expect: { refuse: /^\/etc\/ssh is inside \/etc/ },
  },
  {
    name: '/proc/self/cwd (a magic link to our cwd)',
    input: '/proc/self/cwd',
    rules: open,
    expect: { refuse: /is inside \/proc/ },
  },
  { name: '/proc/self/root', input: '/proc/self/root/', rules: open, expect: { refuse: /is inside \/proc/ } },
  { name: '/dev/fd/0', input: '/dev/fd/0', rules: open, expect: { refuse: /is inside \/dev/ } },
  { name: '/usr/local', input: '/usr/local', rules: open, expect: ifExists('/usr/local', /is inside \/usr/) },
  { name: '/opt', input: '/opt', rules: open, expect: ifExists('/opt', /is a system directory/) },
  {
    name: '/ETC (the deny lists ignore case)',
    input: '/ETC',
    rules: open,
    expect: { refuse: /^\/ETC is a system directory/ },
  },
  { name: '/tmp', input: '/tmp', rules: open, expect: { refuse: /is the temporary-files directory/ } },
  {
    name: '/tmp/ (trailing slash)',
    input: '/tmp/',
    rules: open,
    expect: { refuse: /is the temporary-files directory/ },
  },
  {
    name: 'os.tmpdir()',
    input: tmpdir(),
    rules: open,
    expect: { refuse: /is the temporary-files directory/ },
  },
  {
    name: '/var/tmp',
    input: '/var/tmp',
    rules: open,
    expect: ifExists('/var/tmp', /temporary-files directory/),
  },
  {
    name: '/home',
    input: '/home',
    rules: open,
    // macOS: an autofs mount whose real path is /System/Volumes/Data/home.
    expect: ifExists('/home', /holds every user's home directory|is inside \/System/),
  },
  {
    name: '/Users',
    input: '/Users',
    rules: open,
    expect: ifExists('/Users', /holds every user's home directory/),
  },
  { name: '/mnt', input: '/mnt', rules: open, expect: ifExists('/mnt', /is where disks are mounted/) },
  {
    name: '/mnt/usb',
    input: '/mnt/usb',
    rules: open,
    expect: ifExists('/mnt/usb', /is the top of a mounted disk/),
  },
  { name: '/media', input: '/media', rules: open, expect: ifExists('/media', /is where disks are mounted/) },
  ...(mounted
    ? [
        {
          name: `/mnt/${mounted}`,
          input: `/mnt/${mounted}`,
          rules: open,
          expect: { refuse: /is the top of a mounted disk/ },
        },
      ]
    : []),

  // Look-alikes and hidden characters.
  {
    name: 'Cyrillic а for Latin a',
    input: join(ROOT, '\u0430pp'),
    rules: strict,
    expect: { refuse: /does not exist \('а' in it is U\+0430, not the Latin/ },
  },
  {
    name: 'fullwidth slash',
    input: `${ROOT}\uFF0Fapp`,
    rules: strict,
    expect: { refuse: /only looks like '\/' \('／', U\+FF0F\)/ },
  },
  {
    name: 'division slash',
    input: `${ROOT}\u2215app`,
    rules: strict,
    expect: { refuse: /only looks like '\/'.*U\+2215/ },
  },
  {
    name: 'fraction slash',
    input: `${ROOT}\u2044app`,
    rules: strict,
    expect: { refuse: /only looks like '\/'.*U\+2044/ },
  },
  {
    name: 'fullwidth tilde',
    input: '\uFF5E/code',
    rules: open,
    expect: { refuse: /only looks like '~'.*U\+FF5E/ },
  },
  {
    name: 'zero-width space',
    input: `${ROOT}/ap\u200Bp`,
    rules: strict,
    expect: { refuse: /invisible character \(U\+200B\)/ },
  },
  {
    name: 'word joiner',
    input: `${ROOT}/a\u2060pp`,
    rules: strict,
    expect: { refuse: /invisible character \(U\+2060\)/ },
  },
  {
    name: 'right-to-left override',
    input: `${ROOT}/\u202Eppa`,
    rules: strict,
    expect: { refuse: /text-direction control \(U\+202E\)/ },
  },
  {
    name: 'no-break space',
    input: `${ROOT}/my\u00A0app`,
    rules: strict,
    expect: { refuse: /only looks like a space \(U\+00A0\)/ },
  },
  {
    name: 'ideographic space',
    input: `${ROOT}/my\u3000app`,
    rules: strict,
    expect: { refuse: /only looks like a space \(U\+3000\)/ },
  },

  // Bytes no path should carry, and sizes no path has.
  { name: 'NUL byte', input: `${APP}\0/../../etc`, rules: strict, expect: { refuse: /contains a NUL byte/ } },
  {
    name: 'newline inside',
    input: `${APP}\n/etc`,
    rules: strict,
    expect: { refuse: /control character \(U\+000A\)/ },
  },
  {
    name: 'tab inside',
    input: `${ROOT}/a\tpp`,
    rules: strict,
    expect: { refuse: /control character \(U\+0009\)/ },
  },
  {
    name: 'terminal escape',
    input: `${ROOT}/\u001b[31mapp`,
    rules: strict,
    expect: { refuse: /control character \(U\+001B\)/ },
  },
  {
    name: 'very long input',
    input: `/${'a/'.repeat(3000)}`,
    rules: strict,
    expect: { refuse: /too long \(6001 characters, at most 4096\)/ },
  },
  {
    name: 'a name too long for the disk',
    input: join(ROOT, 'a'.repeat(300)),
    rules: strict,
    expect: { refuse: /too long for the filesystem/ },
  },
  { name: 'empty', input: '   ', rules: strict, expect: { refuse: /no path given/ } },

  // Relative paths need a base.
  {
    name: './app without a base',
    input: './app',
    rules: strict,
    expect: { refuse: /relative path and there is no current workspace/ },
  },
  { name: 'app without a base', input: 'app', rules: strict, expect: { refuse: /relative path/ } },
  {
    name: 'a base that is not absolute',
    input: './app',
    rules: { ...strict, base: 'allowed-root' },
    expect: { refuse: /relative path/ },
  },
];

describe('resolveWorkspace: attack table', () => {
  it('has enough cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  it.each(cases)('$name', ({ input, rules, expect: outcome }) => {
    if ('accept' in outcome) {
      expect(resolveWorkspace(input, rules)).toBe(outcome.accept);
      return;
    }
    let error: unknown;
    try {
      const got = resolveWorkspace(input, rules);
      expect.fail(`accepted as ${got}`);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(LarkcodeError);
    const { kind, message } = error as LarkcodeError;
    expect(kind).toBe('workspace');
    expect(message).toMatch(outcome.refuse);
    // Shown to a chat user: one line, nothing invisible, a readable length.
    expect(message).not.toMatch(/[\p{Cc}\p{Cf}\u2028\u2029]/u);
    expect(message.length).toBeLessThan(500);
  });
});

describe('validateWorkspace (the config workspace)', () => {
  it('keeps working for absolute paths and now understands ~/', () => {
    expect(validateWorkspace(APP, HOME)).toBe(APP);
    expect(validateWorkspace('~/code', HOME)).toBe(join(HOME, 'code'));
  });

  it('refuses relative and broad paths', () => {
    expect(() => validateWorkspace('app', HOME)).toThrow(/relative path/);
    expect(() => validateWorkspace('/', HOME)).toThrow(/whole filesystem/);
    expect(() => validateWorkspace(HOME, HOME)).toThrow(/your home directory/);
  });
});
