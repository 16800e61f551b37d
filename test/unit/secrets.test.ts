import { chmodSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Keystore } from '../../src/config/keystore.js';
import {
  isReference,
  parseSecretRef,
  redactSecrets,
  resolveSecret,
  type SecretContext,
  secretRefSchema,
} from '../../src/config/secrets.js';
import { LarkcodeError } from '../../src/core/errors.js';

const posix = process.platform !== 'win32';
const SECRET = 'planted-S3cret-value-9f2c';
const newDir = () => mkdtempSync(join(tmpdir(), 'larkcode-secrets-'));
const ctx = (extra: Partial<SecretContext> = {}): SecretContext => ({
  env: { PATH: process.env.PATH },
  home: newDir(),
  ...extra,
});

/** A secret file with exactly this content and mode. */
function secretFile(content: string, mode: number, dir = newDir()): string {
  const path = join(dir, 'secret');
  writeFileSync(path, content);
  chmodSync(path, mode);
  return path;
}

/** The LarkcodeError `fn` throws (fails the test if it returns or throws anything else). */
function thrown(fn: () => unknown): LarkcodeError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(LarkcodeError);
    expect((error as LarkcodeError).kind).toBe('config');
    return error as LarkcodeError;
  }
  throw new Error('expected a LarkcodeError');
}

describe('secret references: syntax', () => {
  it('tells references from literals', () => {
    for (const ref of ['env:X', 'file:/a', 'file:~/a', 'exec:pass show x', 'keystore:openai-key']) {
      expect(isReference(ref)).toBe(true);
    }
    for (const literal of ['sk-abc', 'envX', 'ENV:X', 'vault:x', ''])
      expect(isReference(literal)).toBe(false);
  });

  it.each([
    ['env:OPENAI_API_KEY', { kind: 'env', name: 'OPENAI_API_KEY' }],
    ['file:/run/secrets/app', { kind: 'file', path: '/run/secrets/app' }],
    ['file:~/.secrets/app', { kind: 'file', path: '~/.secrets/app' }],
    ['exec:  pass show feishu/app ', { kind: 'exec', command: 'pass show feishu/app' }],
    ['keystore:app-cli_x.1', { kind: 'keystore', name: 'app-cli_x.1' }],
    ['sk-literal', { kind: 'literal', value: 'sk-literal' }],
  ])('parses %s', (ref, parsed) => {
    expect(parseSecretRef(ref)).toEqual(parsed);
    expect(secretRefSchema.safeParse(ref).success).toBe(true);
  });

  it.each([
    'env:',
    'env:MY-KEY',
    'env:1X',
    'file:',
    'file:relative/path',
    'file:~',
    'file:~user/x',
    'file:/a\0b',
    'exec:',
    'exec:   ',
    'keystore:',
    'keystore:Upper',
    'keystore:-x',
    `keystore:${'a'.repeat(65)}`,
    '',
  ])('refuses %j instead of taking it as a literal', (ref) => {
    expect(secretRefSchema.safeParse(ref).success).toBe(false);
    thrown(() => resolveSecret(ref, ctx()));
  });
});

describe('resolveSecret', () => {
  it('returns a literal as it is', () => {
    expect(resolveSecret('  sk-literal\n', ctx())).toBe('  sk-literal\n');
  });

  it('env: reads the variable; a missing or empty one is named, not guessed', () => {
    expect(resolveSecret('env:API_KEY', ctx({ env: { API_KEY: 'k-123' } }))).toBe('k-123');
    expect(thrown(() => resolveSecret('env:API_KEY', ctx({ env: {} }))).message).toBe(
      'secret env:API_KEY: environment variable API_KEY is not set',
    );
    expect(thrown(() => resolveSecret('env:API_KEY', ctx({ env: { API_KEY: '' } }))).message).toContain(
      'API_KEY is not set',
    );
  });

  describe('file:', () => {
    it('reads an owner-only file and drops exactly one trailing newline', () => {
      expect(resolveSecret(`file:${secretFile('abc\n', 0o600)}`, ctx())).toBe('abc');
      expect(resolveSecret(`file:${secretFile('abc\r\n', 0o600)}`, ctx())).toBe('abc');
      expect(resolveSecret(`file:${secretFile('abc\n\n', 0o600)}`, ctx())).toBe('abc\n');
      expect(resolveSecret(`file:${secretFile(' abc ', 0o600)}`, ctx())).toBe(' abc ');
    });

    it('accepts 0400', () => {
      expect(resolveSecret(`file:${secretFile('ro\n', 0o400)}`, ctx())).toBe('ro');
    });

    it('expands ~/ to the context home', () => {
      const home = newDir();
      mkdirSync(join(home, '.secrets'));
      secretFile('from-home\n', 0o600, join(home, '.secrets'));
      expect(resolveSecret('file:~/.secrets/secret', ctx({ home }))).toBe('from-home');
    });

    it.runIf(posix).each([0o644, 0o640, 0o620, 0o604, 0o660])(
      'refuses mode %o and says how to fix it',
      (mode) => {
        const path = secretFile('abc\n', mode);
        const error = thrown(() => resolveSecret(`file:${path}`, ctx()));
        expect(error.message).toContain(`chmod 600 ${path}`);
        expect(error.message).toContain(`mode 0${mode.toString(8)}`);
      },
    );

    it.runIf(posix)('follows a symlink and checks the target, not the link', () => {
      const dir = newDir();
      const open = secretFile('exposed\n', 0o644, dir);
      const link = join(dir, 'link');
      symlinkSync(open, link);
      expect(thrown(() => resolveSecret(`file:${link}`, ctx())).message).toContain('chmod 600');
      chmodSync(open, 0o600);
      expect(resolveSecret(`file:${link}`, ctx())).toBe('exposed');
    });

    it('refuses a missing file, a directory and an empty file', () => {
      const dir = newDir();
      expect(thrown(() => resolveSecret(`file:${join(dir, 'nope')}`, ctx())).message).toContain(
        'does not exist',
      );
      chmodSync(dir, 0o700);
      expect(thrown(() => resolveSecret(`file:${dir}`, ctx())).message).toContain('not a regular file');
      expect(thrown(() => resolveSecret(`file:${secretFile('\n', 0o600)}`, ctx())).message).toContain(
        'is empty',
      );
    });
  });

  describe('exec:', () => {
    it('returns stdout, trimmed, run with the context environment', () => {
      expect(resolveSecret(`exec:printf '  tok-1 \\n\\n'`, ctx())).toBe('tok-1');
      expect(resolveSecret('exec:printf %s "$TOKEN"', ctx({ env: { TOKEN: 'from-env' } }))).toBe('from-env');
    });

    it('a non-zero exit is an error quoting a short excerpt of stderr', () => {
      const error = thrown(() => resolveSecret('exec:echo "item not found" >&2; exit 3', ctx()));
      expect(error.message).toBe(
        'secret exec:echo "item not found" >&2; exit 3: command exited with code 3: item not found',
      );
      const long = thrown(() => resolveSecret(`exec:printf 'x%.0s' $(seq 1 5000) >&2; exit 1`, ctx()));
      expect(long.message).toMatch(/code 1: x{200}…$/);
    });

    it('a command that runs too long is killed', () => {
      const started = Date.now();
      const error = thrown(() => resolveSecret('exec:exec sleep 30', ctx({ execTimeoutMs: 200 })));
      expect(error.message).toContain('did not finish within 200 ms');
      expect(Date.now() - started).toBeLessThan(10_000);
    });

    it('no output is an error', () => {
      expect(thrown(() => resolveSecret('exec:true', ctx())).message).toContain('printed nothing');
    });
  });

  describe('keystore:', () => {
    it('reads the entry from the keystore in the context', () => {
      const keystore = Keystore.open(newDir());
      keystore.set('openai-key', 'sk-from-keystore');
      expect(resolveSecret('keystore:openai-key', ctx({ keystore }))).toBe('sk-from-keystore');
      expect(thrown(() => resolveSecret('keystore:other', ctx({ keystore }))).message).toBe(
        'secret keystore:other: the keystore has no entry named other',
      );
      expect(thrown(() => resolveSecret('keystore:openai-key', ctx())).message).toContain('not open');
    });
  });
});

describe('no failure message carries the secret', () => {
  const leaks = (error: LarkcodeError) => {
    const seen = [error.message, String(error.stack), inspect(error, { depth: 10 }), String(error.cause)];
    return seen.some((text) => text.includes(SECRET));
  };

  const cases: [string, () => unknown][] = [
    [
      'env: missing (secret in another variable)',
      () => resolveSecret('env:NOPE', ctx({ env: { OTHER: SECRET } })),
    ],
    ['file: mode refused', () => resolveSecret(`file:${secretFile(`${SECRET}\n`, 0o644)}`, ctx())],
    [
      'file: symlink to an open file',
      () => {
        const dir = newDir();
        const link = join(dir, 'link');
        symlinkSync(secretFile(SECRET, 0o640, dir), link);
        return resolveSecret(`file:${link}`, ctx());
      },
    ],
    ['file: too large', () => resolveSecret(`file:${secretFile(SECRET.repeat(4000), 0o600)}`, ctx())],
    [
      'exec: fails after printing it',
      () => resolveSecret('exec:printf %s "$S"; exit 3', ctx({ env: { S: SECRET } })),
    ],
    [
      'exec: fails after printing it to stdout and stderr',
      () =>
        resolveSecret(`exec:echo "$S"; echo "token $S rejected" >&2; exit 1`, ctx({ env: { S: SECRET } })),
    ],
    [
      'exec: times out after printing it',
      () =>
        resolveSecret(`exec:printf %s "$S"; exec sleep 30`, ctx({ env: { S: SECRET }, execTimeoutMs: 200 })),
    ],
    [
      'exec: prints too much',
      () => resolveSecret(`exec:yes "$S" | head -c 200000; exit 1`, ctx({ env: { S: SECRET } })),
    ],
    [
      'keystore: damaged entry',
      () => {
        const dir = newDir();
        Keystore.open(dir).set('k', SECRET);
        const path = join(dir, 'keystore.json');
        const file = JSON.parse(readFileSync(path, 'utf8'));
        const data = Buffer.from(file.entries.k.data, 'base64');
        data[0] = (data[0] ?? 0) ^ 1;
        file.entries.k.data = data.toString('base64');
        writeFileSync(path, JSON.stringify(file));
        return resolveSecret('keystore:k', ctx({ keystore: Keystore.open(dir) }));
      },
    ],
  ];

  it.each(cases)('%s', (_name, run) => {
    const error = thrown(run);
    expect(leaks(error)).toBe(false);
  });

  it('the stdout of a failed command is blanked in the quoted stderr', () => {
    const error = thrown(() =>
      resolveSecret(`exec:echo "$S"; echo "token $S rejected" >&2; exit 1`, ctx({ env: { S: SECRET } })),
    );
    expect(error.message).toContain('token [redacted] rejected');
  });
});

describe('redactSecrets', () => {
  it('replaces every occurrence of every secret', () => {
    expect(redactSecrets(`a ${SECRET} b ${SECRET}`, [SECRET])).toBe('a [redacted] b [redacted]');
    expect(redactSecrets('key=abcd tok=wxyz', ['abcd', 'wxyz'])).toBe('key=[redacted] tok=[redacted]');
  });

  it('leaves values shorter than 4 characters alone', () => {
    expect(redactSecrets('abc is fine', ['abc', ''])).toBe('abc is fine');
  });

  it('replaces the longest first, so a secret containing another goes whole', () => {
    expect(redactSecrets('x sk-abcd-long y sk-abcd', ['sk-abcd', 'sk-abcd-long'])).toBe(
      'x [redacted] y [redacted]',
    );
  });

  it('also finds a secret JSON-escaped in a log line', () => {
    const secret = 'pa"ss\\word';
    const line = JSON.stringify({ msg: `auth with ${secret}` });
    expect(redactSecrets(line, [secret])).toBe('{"msg":"auth with [redacted]"}');
  });

  it('returns text without secrets unchanged', () => {
    expect(redactSecrets('nothing here', [SECRET])).toBe('nothing here');
    expect(redactSecrets('', [SECRET])).toBe('');
  });
});
