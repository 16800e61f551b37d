import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  DOC_PATH,
  describeConfig,
  ENV_OVERRIDES,
  EXAMPLE_PLACEHOLDERS,
  exampleConfig,
  isStale,
  jsdocDescriptions,
  renderConfigDocs,
} from '../../scripts/config-docs.js';
import { loadConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Dotted paths of every key that is not itself an object of keys, walked on the zod schema. */
function leafPaths(schema: z.ZodType, prefix = ''): string[] {
  const def = schema._zod.def as { type: string; innerType?: z.ZodType; in?: z.ZodType };
  if (def.innerType) return leafPaths(def.innerType, prefix);
  if (def.type === 'pipe' && def.in) return leafPaths(def.in, prefix);
  if (schema instanceof z.ZodObject) {
    return Object.entries(schema.shape as Record<string, z.ZodType>).flatMap(([key, child]) =>
      leafPaths(child, prefix ? `${prefix}.${key}` : key),
    );
  }
  return [prefix];
}

describe('docs/configuration.md', () => {
  const doc = renderConfigDocs();

  it('is up to date with the config schema', () => {
    if (isStale(join(REPO_ROOT, DOC_PATH), doc)) {
      expect.fail(`${DOC_PATH} is stale: run npm run config-docs`);
    }
  });

  it('has a table row for every leaf key of the schema', () => {
    const leaves = leafPaths(configSchema);
    expect(leaves).toContain('runs.maxConcurrent');
    for (const path of leaves) {
      expect(doc, `no row for ${path}`).toMatch(
        new RegExp(`^\\| \`${path.replace(/\./g, '\\.')}\` \\|`, 'm'),
      );
    }
    const rows = doc.split('\n').filter((line) => /^\| `[\w.]+` \| (?!`)/.test(line));
    expect(rows).toHaveLength(leaves.length);
  });

  it('is deterministic', () => {
    expect(renderConfigDocs()).toBe(doc);
  });

  it('keeps every table row at five cells (pipes in patterns are escaped)', () => {
    const rows = doc.split('\n').filter((line) => line.startsWith('| `') && line.includes('.'));
    for (const row of rows) {
      expect(row.replace(/\\\|/g, '').split('|').length - 2, row).toBe(5);
    }
    expect(doc).toContain('`^(ou\\|oc)_\\w+$`');
  });

  it('shows defaults, required keys, enums, ranges and descriptions', () => {
    expect(doc).toMatch(
      /^\| `runs\.maxConcurrent` \| integer \| `4` \| 1 … 1000 \| Global cap on concurrent agent runs/m,
    );
    expect(doc).toMatch(
      /^\| `workspace` \| string \| \*\*required\*\* \| non-empty \| Default working directory/m,
    );
    expect(doc).toMatch(
      /^\| `logLevel` \| string \| `info` \| `trace`, `debug`, `info`, `warn`, `error` \|/m,
    );
    expect(doc).toMatch(/^\| `appId` \| string \| \*\*required\*\* \| matches `.*` \(case-insensitive\) \|/m);
  });

  it('has an example config that larkcode accepts as it is', () => {
    const json = /## Example\n[^`]*```json\n([\s\S]*?)\n```/.exec(doc)?.[1];
    expect(json).toBeDefined();
    const example = JSON.parse(json!) as Record<string, unknown>;
    expect(configSchema.parse(example)).toEqual(example);
    for (const key of Object.keys(EXAMPLE_PLACEHOLDERS)) expect(example).toHaveProperty(key);
  });

  it('names every environment override, and load.ts honours each', () => {
    const dir = mkdtempSync(join(tmpdir(), 'larkcode-config-docs-'));
    try {
      const file = join(dir, 'config.json');
      writeFileSync(file, JSON.stringify({ ...EXAMPLE_PLACEHOLDERS, workspace: dir }));
      const values: Record<string, string> = {
        appId: 'cli_fedcba9876543210',
        appSecret: 'from-the-environment',
        domain: 'lark',
      };
      for (const { env, key } of ENV_OVERRIDES) {
        expect(doc).toContain(`| \`${env}\` | \`${key}\` |`);
        const value = values[key];
        expect(value, `a sample value for ${key}`).toBeDefined();
        const config = loadConfig(file, { [env]: value }) as unknown as Record<string, unknown>;
        expect(config[key]).toBe(value);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says where config.json lives', () => {
    expect(doc).toContain('`$LARKCODE_HOME/config.json`');
    expect(doc).toContain('`~/.config/larkcode/config.json`');
    expect(doc).toContain('`$XDG_CONFIG_HOME/larkcode/config.json`');
  });
});

describe('jsdocDescriptions', () => {
  const source = `
import { z } from 'zod';
const inner = z.object({
  /** Inner x. */
  x: z.number(),
});
/** The root's own comment, not a key's. */
export const configSchema = z
  .object({
    /**
     * Spans
     * two lines, mentions @scope/pkg.
     */
    a: z.string(),
    b: z.string(), // a line comment is not a description
    /** Nested section. */
    section: z
      .object({
        /** Deep key. */
        deep: z.boolean().default(true),
        undocumented: z.number().optional(),
      })
      .strict()
      .default({
        /** Inside a default value: not a key. */
        deep: true,
      }),
    inner,
    /** Via an identifier. */
    other: inner.optional(),
    'quoted-key': /** Misplaced. */ z.string(),
  })
  .extend({
    /** Extended. */
    added: z.string(),
  })
  .strict();
`;

  it('maps each comment to the key path right after it, nested objects included', () => {
    expect(Object.fromEntries(jsdocDescriptions(source))).toEqual({
      a: 'Spans two lines, mentions @scope/pkg.',
      section: 'Nested section.',
      'section.deep': 'Deep key.',
      'inner.x': 'Inner x.',
      other: 'Via an identifier.',
      'other.x': 'Inner x.',
      added: 'Extended.',
    });
  });

  it('refuses a source without the schema', () => {
    expect(() => jsdocDescriptions('export const other = 1;')).toThrow(/configSchema/);
  });
});

describe('describeConfig', () => {
  const schema = z
    .object({
      /** ignored: describe() wins */
      a: z.string().describe('From describe.').optional(),
      n: z.number().int().min(1).max(9).default(3),
      section: z.object({ deep: z.boolean().default(true), more: z.object({ leaf: z.string() }) }).strict(),
    })
    .strict();
  const jsdoc = new Map([
    ['a', 'From JSDoc.'],
    ['section.deep', 'Deep.'],
  ]);
  const sections = describeConfig(schema, jsdoc);

  it('groups keys per top-level section, flattening deeper objects', () => {
    expect(sections.map((s) => [s.path, s.keys.map((k) => k.path)])).toEqual([
      ['', ['a', 'n']],
      ['section', ['section.deep', 'section.more.leaf']],
    ]);
  });

  it('prefers .describe() metadata over JSDoc, and falls back to JSDoc', () => {
    const keys = sections.flatMap((s) => s.keys);
    expect(keys.find((k) => k.path === 'a')?.description).toBe('From describe.');
    expect(keys.find((k) => k.path === 'section.deep')?.description).toBe('Deep.');
    expect(keys.find((k) => k.path === 'section.more.leaf')).toMatchObject({
      required: true,
      description: '',
    });
    expect(keys.find((k) => k.path === 'n')).toMatchObject({
      type: 'integer',
      required: false,
      default: { value: 3 },
      allowed: '1 … 9',
    });
  });
});

describe('exampleConfig', () => {
  it('names the placeholders to fix when the example stops parsing', () => {
    expect(() => exampleConfig(configSchema, { appId: 'nope' })).toThrow(/EXAMPLE_PLACEHOLDERS/);
  });

  it('is the checked-in file, so the doc never drifts from the defaults', () => {
    expect(readFileSync(join(REPO_ROOT, DOC_PATH), 'utf8')).toContain(
      JSON.stringify(exampleConfig(configSchema, EXAMPLE_PLACEHOLDERS), null, 2),
    );
  });
});
