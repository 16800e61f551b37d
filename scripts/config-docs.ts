/**
 * `npm run config-docs`: generate docs/configuration.md from the config schema.
 *
 * Types, defaults, required keys, allowed values and ranges come from `z.toJSONSchema(configSchema)`
 * (input side: what config.json may hold), with string rules read from the zod checks themselves
 * (JSON Schema drops regex flags and merges several patterns). A key's description is its
 * `.describe()` / `.meta({ description })` when it has one, else the JSDoc comment right before the
 * key in src/config/schema.ts (JSDoc is not visible at runtime, so the source is parsed with the
 * TypeScript compiler API). Output is deterministic: keys in schema order, nothing time- or
 * machine-dependent. `--check` writes nothing and exits 1 when the file is stale.
 */
import { existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { z } from 'zod';
import { resolvePaths } from '../src/config/paths.js';
import { configSchema } from '../src/config/schema.js';

export const DOC_PATH = 'docs/configuration.md';
export const SCHEMA_PATH = 'src/config/schema.ts';
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Environment variables that replace a config.json value (src/config/load.ts). */
export const ENV_OVERRIDES: readonly { env: string; key: string }[] = [
  { env: 'FEISHU_APP_ID', key: 'appId' },
  { env: 'FEISHU_APP_SECRET', key: 'appSecret' },
  { env: 'FEISHU_DOMAIN', key: 'domain' },
];

/**
 * Values for the example config.json: every required key (the example must parse) plus `owner`.
 * Everything else in the example is a default.
 */
export const EXAMPLE_PLACEHOLDERS: Readonly<Record<string, unknown>> = {
  appId: 'cli_0123456789abcdef',
  appSecret: '<app secret>',
  workspace: '/path/to/your/project',
  owner: 'ou_<your open id>',
};

// ---------------------------------------------------------------------------
// JSDoc descriptions from the schema's source text

type Expr = ts.Expression;

function unwrapExpression(expr: Expr): Expr {
  let e = expr;
  while (ts.isParenthesizedExpression(e) || ts.isAsExpression(e) || ts.isSatisfiesExpression(e)) {
    e = e.expression;
  }
  return e;
}

const OBJECT_FACTORIES = new Set(['object', 'strictObject', 'looseObject']);
const EXTENDERS = new Set(['extend', 'safeExtend']);

/**
 * The object literals that declare the keys of the zod object built by `expr`: the argument of
 * `z.object({...})` at the bottom of a method chain (`.strict().default({...})` is followed through
 * its receiver, so a `.default({...})` literal is never mistaken for keys), plus `.extend({...})`
 * arguments; a bare identifier is followed to its `const` in the same file.
 */
function keyLiterals(
  expr: Expr,
  consts: Map<string, Expr>,
  seen: Set<string> = new Set(),
): ts.ObjectLiteralExpression[] {
  const literals: ts.ObjectLiteralExpression[] = [];
  let e = unwrapExpression(expr);
  for (;;) {
    if (ts.isIdentifier(e)) {
      const target = consts.get(e.text);
      if (!target || seen.has(e.text)) return literals;
      seen.add(e.text);
      e = unwrapExpression(target);
      continue;
    }
    if (!ts.isCallExpression(e) || !ts.isPropertyAccessExpression(e.expression)) return literals;
    const method = e.expression.name.text;
    const [first] = e.arguments;
    if (
      OBJECT_FACTORIES.has(method) &&
      ts.isIdentifier(e.expression.expression) &&
      e.expression.expression.text === 'z'
    ) {
      if (first && ts.isObjectLiteralExpression(first)) literals.unshift(first);
      return literals;
    }
    if (EXTENDERS.has(method) && first && ts.isObjectLiteralExpression(first)) literals.unshift(first);
    e = unwrapExpression(e.expression.expression);
  }
}

/**
 * The last JSDoc comment attached to `node`, as written: tags are kept as text, since a
 * description like "bundled with @openai/codex-sdk" is prose, not a `@openai` tag.
 */
function jsdocText(node: ts.Node): string | undefined {
  const last = ts.getJSDocCommentsAndTags(node).filter(ts.isJSDoc).at(-1);
  if (!last) return undefined;
  const text = last
    .getText()
    .replace(/^\/\*\*/, '')
    .replace(/\*\/$/, '')
    .split('\n')
    .map((line) => line.replace(/^\s*\*(?!\/)/, ''))
    .join(' ')
    .replace(/\s+/g, ' ')
    .trim();
  return text ? text : undefined;
}

function propertyKey(name: ts.PropertyName): string | undefined {
  if (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isNumericLiteral(name)) return name.text;
  return undefined;
}

/**
 * Key path (`runs.maxConcurrent`) → the JSDoc comment immediately preceding `key: z…` in the object
 * passed to `z.object` for the schema exported as `exportName`, nested objects included.
 */
export function jsdocDescriptions(source: string, exportName = 'configSchema'): Map<string, string> {
  const file = ts.createSourceFile('schema.ts', source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const consts = new Map<string, Expr>();
  for (const statement of file.statements) {
    if (!ts.isVariableStatement(statement)) continue;
    for (const decl of statement.declarationList.declarations) {
      if (ts.isIdentifier(decl.name) && decl.initializer) consts.set(decl.name.text, decl.initializer);
    }
  }
  const out = new Map<string, string>();
  const visit = (expr: Expr, prefix: string, seen: Set<string>) => {
    for (const literal of keyLiterals(expr, consts, new Set(seen))) {
      for (const prop of literal.properties) {
        let key: string | undefined;
        let value: Expr | undefined;
        if (ts.isPropertyAssignment(prop)) {
          key = propertyKey(prop.name);
          value = prop.initializer;
        } else if (ts.isShorthandPropertyAssignment(prop)) {
          key = prop.name.text;
          value = prop.name;
        }
        if (key === undefined || value === undefined) continue;
        const path = prefix ? `${prefix}.${key}` : key;
        const text = jsdocText(prop);
        if (text) out.set(path, text);
        visit(value, path, seen);
      }
    }
  };
  const root = consts.get(exportName);
  if (!root) throw new Error(`no "const ${exportName}" in the schema source`);
  visit(root, '', new Set([exportName]));
  return out;
}

// ---------------------------------------------------------------------------
// Keys from the JSON Schema

/** The part of a JSON Schema node read here. */
interface JsonNode {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonNode[];
  oneOf?: JsonNode[];
  allOf?: JsonNode[];
  properties?: Record<string, JsonNode>;
  required?: string[];
  additionalProperties?: boolean | JsonNode;
  items?: JsonNode;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  format?: string;
  $ref?: string;
  $defs?: Record<string, JsonNode>;
  /** Added by this script: string rules from the zod checks. */
  'x-rules'?: string[];
}

interface CheckDef {
  check?: string;
  format?: string;
  pattern?: RegExp;
  prefix?: string;
  suffix?: string;
  includes?: string;
}

const FORMAT_NAMES: Record<string, string> = {
  url: 'a URL',
  email: 'an email address',
  uuid: 'a UUID',
  datetime: 'an ISO date-time',
  lowercase: 'lowercase',
  uppercase: 'uppercase',
};

function regexRule(pattern: RegExp): string {
  const flags = pattern.flags.replace(/[gy]/g, '');
  const note = flags === 'i' ? ' (case-insensitive)' : flags ? ` (flags \`${flags}\`)` : '';
  return `matches \`${pattern.source}\`${note}`;
}

/** Human-readable rules of a zod string: its own format (`z.url()`) and its format checks. */
function stringRules(zodSchema: unknown): string[] {
  const def = (zodSchema as { _zod: { def: CheckDef & { type: string; checks?: unknown[] } } })._zod.def;
  if (def.type !== 'string') return [];
  const checks: CheckDef[] = [
    def,
    ...(def.checks ?? []).map((c) => (c as { _zod: { def: CheckDef } })._zod.def),
  ];
  const rules: string[] = [];
  for (const check of checks) {
    if (check.check !== 'string_format' && !(check === def && def.format)) continue;
    switch (check.format) {
      case undefined:
        break;
      case 'regex':
        if (check.pattern) rules.push(regexRule(check.pattern));
        break;
      case 'starts_with':
        rules.push(`starts with \`${check.prefix}\``);
        break;
      case 'ends_with':
        rules.push(`ends with \`${check.suffix}\``);
        break;
      case 'includes':
        rules.push(`contains \`${check.includes}\``);
        break;
      default:
        rules.push(FORMAT_NAMES[check.format] ?? `format \`${check.format}\``);
    }
  }
  return rules;
}

/** The config schema as JSON Schema (input side), with `x-rules` on strings. */
export function toJsonSchema(schema: z.ZodType): JsonNode {
  return z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'any',
    override: (ctx) => {
      const rules = stringRules(ctx.zodSchema);
      if (rules.length > 0) (ctx.jsonSchema as JsonNode)['x-rules'] = rules;
    },
  }) as JsonNode;
}

function deref(node: JsonNode, root: JsonNode): JsonNode {
  let n = node;
  const seen = new Set<string>();
  while (n.$ref?.startsWith('#/$defs/') && !seen.has(n.$ref)) {
    seen.add(n.$ref);
    const target = root.$defs?.[n.$ref.slice('#/$defs/'.length)];
    if (!target) break;
    const { $ref: _ref, ...rest } = n;
    n = { ...target, ...rest };
  }
  return n;
}

function isSection(node: JsonNode): boolean {
  return node.type === 'object' && node.properties !== undefined && !node.anyOf && !node.oneOf;
}

function typeName(node: JsonNode, root: JsonNode): string {
  const n = deref(node, root);
  const branches = n.anyOf ?? n.oneOf;
  if (branches) return [...new Set(branches.map((b) => typeName(b, root)))].join(' or ');
  if (n.const !== undefined) return typeof n.const;
  const type = Array.isArray(n.type) ? n.type.join(' or ') : n.type;
  if (type === 'array') {
    const item = n.items ? typeName(n.items, root) : 'any';
    return item.includes(' ') ? `(${item})[]` : `${item}[]`;
  }
  if (type === undefined) return n.enum ? [...new Set(n.enum.map((v) => typeof v))].join(' or ') : 'any';
  return type;
}

function code(value: unknown): string {
  return `\`${typeof value === 'string' ? value : JSON.stringify(value)}\``;
}

function range(min: string | undefined, max: string | undefined, unit = ''): string | undefined {
  if (min !== undefined && max !== undefined) return `${min} … ${max}${unit}`;
  if (min !== undefined) return `≥ ${min}${unit}`;
  if (max !== undefined) return `≤ ${max}${unit}`;
  return undefined;
}

function allowedValues(node: JsonNode, root: JsonNode): string {
  const n = deref(node, root);
  const branches = n.anyOf ?? n.oneOf;
  if (branches) {
    const parts = branches.map((b) => allowedValues(b, root) || `any ${typeName(b, root)}`);
    return parts.length > 1 ? `${parts.slice(0, -1).join(', ')} or ${parts.at(-1)}` : (parts[0] ?? '');
  }
  if (n.const !== undefined) return code(n.const);
  if (n.enum) return n.enum.map(code).join(', ');
  const rules: string[] = [];
  const type = typeName(n, root);
  if (type === 'integer' || type === 'number') {
    const r = range(n.minimum?.toString(), n.maximum?.toString());
    if (r) rules.push(r);
    if (n.exclusiveMinimum !== undefined) rules.push(`> ${n.exclusiveMinimum}`);
    if (n.exclusiveMaximum !== undefined) rules.push(`< ${n.exclusiveMaximum}`);
  }
  if (type === 'string') {
    if (n.minLength === 1 && n.maxLength === undefined) rules.push('non-empty');
    else {
      const r = range(n.minLength?.toString(), n.maxLength?.toString(), ' characters');
      if (r) rules.push(r);
    }
    if (n['x-rules']) rules.push(...n['x-rules']);
    else {
      for (const p of [n, ...(n.allOf ?? [])]) if (p.pattern) rules.push(`matches \`${p.pattern}\``);
      if (n.format) rules.push(n.format === 'uri' ? 'a URL' : `format \`${n.format}\``);
    }
  }
  if (n.type === 'array') {
    const r = range(n.minItems?.toString(), n.maxItems?.toString(), ' items');
    if (r) rules.push(r);
    const each = n.items ? allowedValues(n.items, root) : '';
    if (each) rules.push(`each ${each}`);
  }
  return rules.join('; ');
}

/** One row of the reference: a key that is not itself an object of keys. */
export interface ConfigKey {
  /** Dotted path, e.g. `runs.maxConcurrent`. */
  path: string;
  type: string;
  required: boolean;
  /** Present when the key has a default. */
  default?: { value: unknown };
  /** Enum values, ranges, patterns; '' when anything of the type goes. */
  allowed: string;
  /** '' when the key has neither `.describe()` metadata nor a JSDoc comment. */
  description: string;
}

/** A table: the top-level keys that are not objects (`path` ''), or one top-level object. */
export interface ConfigSection {
  path: string;
  description: string;
  keys: ConfigKey[];
}

/** Every key of `schema`, grouped per top-level section, in schema order. Pure. */
export function describeConfig(schema: z.ZodType, jsdoc: Map<string, string>): ConfigSection[] {
  const root = toJsonSchema(schema);
  const describe = (node: JsonNode, path: string) => node.description ?? jsdoc.get(path) ?? '';
  const top: ConfigSection = { path: '', description: '', keys: [] };
  const sections: ConfigSection[] = [top];
  const walk = (object: JsonNode, prefix: string, into: ConfigSection) => {
    for (const [key, raw] of Object.entries(object.properties ?? {})) {
      const node = deref(raw, root);
      const path = prefix ? `${prefix}.${key}` : key;
      if (isSection(node)) {
        let section = into;
        if (into === top) {
          section = { path, description: describe(node, path), keys: [] };
          sections.push(section);
        }
        walk(node, path, section);
        continue;
      }
      into.keys.push({
        path,
        type: typeName(node, root),
        required: object.required?.includes(key) ?? false,
        ...(node.default !== undefined ? { default: { value: node.default } } : {}),
        allowed: allowedValues(node, root),
        description: describe(node, path),
      });
    }
  };
  walk(deref(root, root), '', top);
  return sections.filter((s) => s.keys.length > 0);
}

/** Leaf keys with no description at all. */
export function undocumentedKeys(sections: readonly ConfigSection[]): string[] {
  return sections.flatMap((s) => s.keys.filter((k) => !k.description).map((k) => k.path));
}

/** `placeholders` with every default filled in, exactly as larkcode would read it. */
export function exampleConfig(schema: z.ZodType, placeholders: Readonly<Record<string, unknown>>): unknown {
  const parsed = schema.safeParse(placeholders);
  if (!parsed.success) {
    throw new Error(
      `the example config does not parse — fix EXAMPLE_PLACEHOLDERS in scripts/config-docs.ts:\n${z.prettifyError(parsed.error)}`,
    );
  }
  return parsed.data;
}

// ---------------------------------------------------------------------------
// Markdown

function cell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|') || '—';
}

function table(keys: readonly ConfigKey[]): string[] {
  const rows = ['| key | type | default | allowed values | description |', '|---|---|---|---|---|'];
  for (const key of keys) {
    const def = key.required ? '**required**' : key.default ? code(key.default.value) : '';
    rows.push(`| ${[code(key.path), key.type, def, key.allowed, key.description].map(cell).join(' | ')} |`);
  }
  return rows;
}

function posix(path: string): string {
  return path.replace(/\\/g, '/');
}

function locationParagraph(): string {
  const home = resolvePaths({ LARKCODE_HOME: '$LARKCODE_HOME' });
  const plain = resolvePaths({ HOME: '~' });
  const xdg = resolvePaths({
    HOME: '~',
    XDG_CONFIG_HOME: '$XDG_CONFIG_HOME',
    XDG_STATE_HOME: '$XDG_STATE_HOME',
  });
  const namedHome = resolvePaths({ LARKCODE_HOME: '$LARKCODE_HOME' }, 'work');
  const named = resolvePaths({ HOME: '~' }, 'work');
  return [
    `larkcode reads one file, \`${posix(home.configFile)}\`, when \`LARKCODE_HOME\` is set (state then`,
    `lives in \`${posix(home.stateDir)}\`). Otherwise it reads \`${posix(plain.configFile)}\` and keeps`,
    `state in \`${posix(plain.stateDir)}\`, honouring \`XDG_CONFIG_HOME\` (\`${posix(xdg.configFile)}\`)`,
    `and \`XDG_STATE_HOME\` (\`${posix(xdg.stateDir)}\`). A profile other than the default one has a`,
    `file of its own: \`--profile work\` reads \`${posix(namedHome.configFile)}\`, or`,
    `\`${posix(named.configFile)}\` (state in \`${posix(named.stateDir)}\`). The file is`,
    'validated strictly: a wrong type or an unknown key stops larkcode with a message naming the key,',
    'so a typo never silently falls back to a default.',
  ].join('\n');
}

export interface RenderOptions {
  /** The text of src/config/schema.ts; read from disk when omitted. */
  schemaSource?: string;
}

/** The whole of docs/configuration.md for `configSchema`. Pure given `schemaSource`. */
export function renderConfigDocs(options: RenderOptions = {}): string {
  const source = options.schemaSource ?? readFileSync(join(REPO_ROOT, SCHEMA_PATH), 'utf8');
  const sections = describeConfig(configSchema, jsdocDescriptions(source));
  const out = [
    '# Configuration reference',
    '',
    '<!-- Generated by `npm run config-docs` (scripts/config-docs.ts) from src/config/schema.ts. Do not edit by hand. -->',
    '',
    locationParagraph(),
    '',
    '## Environment overrides',
    '',
    'These variables, when set and non-empty, replace the value from config.json:',
    '',
    '| variable | replaces |',
    '|---|---|',
    ...ENV_OVERRIDES.map(({ env, key }) => `| \`${env}\` | \`${key}\` |`),
    '',
    '## Example',
    '',
    'The required keys (placeholders here) and the owner, with every default spelled out:',
    '',
    '```json',
    JSON.stringify(exampleConfig(configSchema, EXAMPLE_PLACEHOLDERS), null, 2),
    '```',
    '',
    '## Keys',
    '',
    '**required** marks a key with no default that must be set; `—` in the default column means unset.',
    'Descriptions come from the schema: `.describe()` where given, else the JSDoc comment on the key in',
    '`src/config/schema.ts`.',
  ];
  for (const section of sections) {
    out.push('', section.path ? `### \`${section.path}\`` : '### Top level', '');
    if (section.description) out.push(section.description, '');
    out.push(...table(section.keys));
  }
  return `${out.join('\n')}\n`;
}

/** True when `path` is missing or differs from `content`. */
export function isStale(path: string, content: string): boolean {
  return !existsSync(path) || readFileSync(path, 'utf8') !== content;
}

function main(argv: string[]): number {
  const path = join(REPO_ROOT, DOC_PATH);
  const content = renderConfigDocs();
  if (argv.includes('--check')) {
    if (!isStale(path, content)) return 0;
    process.stderr.write(`${DOC_PATH} is stale: run npm run config-docs\n`);
    return 1;
  }
  if (isStale(path, content)) writeFileSync(path, content);
  process.stdout.write(`wrote ${DOC_PATH}\n`);
  const source = readFileSync(join(REPO_ROOT, SCHEMA_PATH), 'utf8');
  const missing = undocumentedKeys(describeConfig(configSchema, jsdocDescriptions(source)));
  if (missing.length > 0) {
    process.stderr.write(
      `keys without a description (add a JSDoc comment in ${SCHEMA_PATH}):\n${missing.map((k) => `  ${k}`).join('\n')}\n`,
    );
  }
  return 0;
}

const invokedPath = process.argv[1];
if (invokedPath && import.meta.url === pathToFileURL(realpathSync(invokedPath)).href) {
  process.exitCode = main(process.argv.slice(2));
}
