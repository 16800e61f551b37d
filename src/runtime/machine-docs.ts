/**
 * The machines drawn from their definitions: per machine `<name>.mmd` (Mermaid stateDiagram-v2)
 * and `<name>.json` (the definition, keys sorted), plus README.md embedding every diagram.
 * Output is deterministic. Used by `npm run machines` (docs/machines/) and `larkcode machines`.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AnyStateMachine } from 'xstate';
import { rendererMachine } from '../../machines/renderer.machine.js';
import { scopeMachine } from '../../machines/scope.machine.js';
import { supervisorMachine } from '../../machines/supervisor.machine.js';

export interface MachineEntry {
  /** File stem under docs/machines/ (unique). */
  name: string;
  machine: AnyStateMachine;
}

/** Every machine that gets generated docs. Adding one is one line. */
export const MACHINES: MachineEntry[] = [
  { name: 'scope', machine: scopeMachine },
  { name: 'supervisor', machine: supervisorMachine },
  { name: 'renderer', machine: rendererMachine },
];

export const DOCS_DIR = 'docs/machines';

// ---------------------------------------------------------------------------
// The subset of XState's StateNode we read (kept structural so machines stay inputs).

interface NodeLike {
  id: string;
  key: string;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  history?: false | 'shallow' | 'deep';
  description?: string;
  parent?: NodeLike;
  states: Record<string, NodeLike>;
  initial?: { target: readonly NodeLike[] };
  transitions: Map<string, TransitionLike[]>;
  always?: TransitionLike[];
  after: (TransitionLike & { delay: string | number })[];
  invoke: readonly { id: string; src: unknown }[];
  entry: readonly unknown[];
  exit: readonly unknown[];
}

interface TransitionLike {
  eventType: string;
  target?: readonly NodeLike[];
  guard?: unknown;
  actions: readonly unknown[];
  reenter?: boolean;
  delay?: string | number;
}

// ---------------------------------------------------------------------------
// Names

/** Name of an action / guard / actor reference in the definition. */
function refName(ref: unknown): string {
  if (typeof ref === 'string') return ref;
  if (typeof ref === 'function') {
    const typed = (ref as { type?: unknown }).type;
    if (typeof typed === 'string' && typed !== '') return typed;
    return ref.name || 'inline';
  }
  if (ref && typeof ref === 'object') {
    const { type, id } = ref as { type?: unknown; id?: unknown };
    if (typeof type === 'string') return type;
    if (typeof id === 'string') return id;
    const config = (ref as { config?: { id?: unknown } }).config;
    if (typeof config?.id === 'string') return config.id;
  }
  return 'inline';
}

/** Built-ins XState adds for `after` (raise/cancel); not worth showing. */
const INTERNAL_ACTIONS = new Set(['xstate.raise', 'xstate.cancel']);

function actionNames(actions: readonly unknown[]): string[] {
  return actions.map(refName).filter((name) => !INTERNAL_ACTIONS.has(name));
}

// ---------------------------------------------------------------------------
// Mermaid

const MERMAID_ENTITIES: Record<string, string> = {
  '#': '#35;',
  ':': '#58;',
  ';': '#59;',
  '{': '#123;',
  '}': '#125;',
  '"': '#quot;',
  '%': '#37;',
  '<': '#lt;',
  '>': '#gt;',
};

/** Escape label/note text for the plain stateDiagram-v2 subset (one line, no syntax characters). */
export function escapeMermaid(text: string): string {
  return (
    text
      .replace(/\s+/g, ' ')
      .trim()
      .replace(/[#:;{}"%<>]/g, (c) => MERMAID_ENTITIES[c]!)
      // The lexer treats `direction LR` anywhere on a line as a directive.
      .replace(/\b(direction) (tb|bt|rl|lr)\b/gi, '$1#32;$2')
  );
}

const RESERVED_IDS = new Set([
  'state',
  'note',
  'end',
  'direction',
  'class',
  'classdef',
  'style',
  'click',
  'default',
]);

function allNodes(root: NodeLike): NodeLike[] {
  const out: NodeLike[] = [];
  const walk = (node: NodeLike) => {
    out.push(node);
    for (const child of Object.values(node.states)) walk(child);
  };
  walk(root);
  return out;
}

/** Mermaid ids: the state key when unique in the machine, else its path; `[A-Za-z0-9_]` only. */
function mermaidIds(root: NodeLike): Map<NodeLike, string> {
  const nodes = allNodes(root).filter((node) => node !== root);
  const clean = (s: string) => s.replace(/[^A-Za-z0-9_]/g, '_');
  const keyCount = new Map<string, number>();
  for (const node of nodes) keyCount.set(clean(node.key), (keyCount.get(clean(node.key)) ?? 0) + 1);
  const ids = new Map<NodeLike, string>();
  const used = new Set<string>();
  ids.set(root, clean(root.key));
  used.add(clean(root.key));
  for (const node of nodes) {
    const key = clean(node.key);
    let id = keyCount.get(key) === 1 ? key : clean(node.id.split('.').slice(1).join('_'));
    // The (case-insensitive) lexer reads a leading `default` as a keyword even inside a longer id.
    if (RESERVED_IDS.has(id.toLowerCase()) || /^([0-9]|default)/i.test(id)) id = `s_${id}`;
    let unique = id;
    for (let i = 2; used.has(unique); i++) unique = `${id}_${i}`;
    used.add(unique);
    ids.set(node, unique);
  }
  return ids;
}

function eventLabel(transition: TransitionLike): string {
  if (transition.delay !== undefined) {
    return typeof transition.delay === 'number' ? `after ${transition.delay}ms` : `after ${transition.delay}`;
  }
  if (transition.eventType === '') return 'always';
  return transition.eventType;
}

/** `event [guard] / a, b (reenter)` */
export function transitionLabel(transition: TransitionLike): string {
  const parts = [eventLabel(transition)];
  if (transition.guard !== undefined) parts.push(`[${refName(transition.guard)}]`);
  const actions = actionNames(transition.actions);
  if (actions.length > 0) parts.push(`/ ${actions.join(', ')}`);
  if (transition.reenter) parts.push('(reenter)');
  return escapeMermaid(parts.join(' '));
}

function ancestors(node: NodeLike): NodeLike[] {
  const chain: NodeLike[] = [];
  for (let n: NodeLike | undefined = node; n; n = n.parent) chain.unshift(n);
  return chain;
}

/**
 * The block an edge is written in: the deepest state strictly containing both ends,
 * or `undefined` for the top level (an edge touching the wrapped root itself).
 */
function edgeScope(source: NodeLike, target: NodeLike): NodeLike | undefined {
  const a = ancestors(source);
  const b = ancestors(target);
  let k = 0;
  while (k < a.length && k < b.length && a[k] === b[k]) k++;
  const common = a[k - 1]!;
  return common === source || common === target ? common.parent : common;
}

interface Edge {
  from: string;
  to: string;
  label: string;
}

function noteText(node: NodeLike): string | undefined {
  const parts: string[] = [];
  if (node.description) parts.push(node.description);
  if (node.type === 'history') parts.push(`history (${node.history === 'deep' ? 'deep' : 'shallow'})`);
  for (const invoke of node.invoke) {
    const src = refName(invoke.src);
    parts.push(invoke.id && invoke.id !== src ? `invoke ${src} (id ${invoke.id})` : `invoke ${src}`);
  }
  const entry = actionNames(node.entry);
  if (entry.length > 0) parts.push(`entry / ${entry.join(', ')}`);
  const exit = actionNames(node.exit);
  if (exit.length > 0) parts.push(`exit / ${exit.join(', ')}`);
  return parts.length > 0 ? escapeMermaid(parts.join(' · ')) : undefined;
}

/** Mermaid stateDiagram-v2 for one machine (deterministic; config order). */
export function toMermaid(machine: AnyStateMachine): string {
  const root = machine.root as unknown as NodeLike;
  const ids = mermaidIds(root);
  const id = (node: NodeLike) => ids.get(node)!;

  // Collect edges per enclosing block.
  const edgesByScope = new Map<NodeLike | undefined, Edge[]>();
  const addEdge = (scope: NodeLike | undefined, edge: Edge) => {
    const list = edgesByScope.get(scope) ?? [];
    list.push(edge);
    edgesByScope.set(scope, list);
  };
  const rootHasOwnStuff = (node: NodeLike) =>
    node.transitions.size > 0 || (node.always?.length ?? 0) > 0 || noteText(node) !== undefined;
  const wrapRoot = rootHasOwnStuff(root);
  for (const node of allNodes(root)) {
    const transitions = [...node.transitions.values()].flat().concat(node.always ?? []);
    for (const transition of transitions) {
      const label = transitionLabel(transition);
      const targets = transition.target && transition.target.length > 0 ? transition.target : [node];
      for (const target of targets) {
        addEdge(edgeScope(node, target), { from: id(node), to: id(target), label });
      }
    }
  }

  const lines: string[] = ['stateDiagram-v2'];
  const notes: string[] = [];
  const emitEdges = (scope: NodeLike | undefined, indent: string) => {
    for (const edge of edgesByScope.get(scope) ?? []) {
      lines.push(`${indent}${edge.from} --> ${edge.to}${edge.label ? ` : ${edge.label}` : ''}`);
    }
  };
  const emitChildren = (node: NodeLike, indent: string) => {
    const children = Object.values(node.states);
    if (node.type === 'parallel') {
      children.forEach((child, i) => {
        if (i > 0) lines.push(`${indent}--`);
        emitNode(child, indent);
      });
    } else {
      for (const target of node.initial?.target ?? []) lines.push(`${indent}[*] --> ${id(target)}`);
      for (const child of children) emitNode(child, indent);
    }
    for (const child of children) {
      if (child.type === 'final') lines.push(`${indent}${id(child)} --> [*]`);
    }
    emitEdges(node, indent);
  };
  const emitNode = (node: NodeLike, indent: string) => {
    if (Object.keys(node.states).length > 0) {
      lines.push(`${indent}state ${id(node)} {`);
      emitChildren(node, `${indent}  `);
      lines.push(`${indent}}`);
    } else {
      lines.push(`${indent}${id(node)}`);
    }
    const note = noteText(node);
    if (note) notes.push(`note right of ${id(node)} : ${note}`);
  };

  if (wrapRoot) {
    lines.push(`  [*] --> ${id(root)}`);
    emitNode(root, '  ');
    emitEdges(undefined, '  ');
  } else {
    emitChildren(root, '  ');
  }
  for (const note of notes) lines.push(`  ${note}`);
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------
// JSON

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

/** `machine.toJSON()` made JSON-safe (inline functions → `"[function name]"`) with keys sorted. */
export function toDefinitionJson(machine: AnyStateMachine): string {
  const plain = JSON.parse(
    JSON.stringify(machine.toJSON(), (key, value) => {
      if (key === 'toJSON') return undefined;
      return typeof value === 'function' ? `[function ${value.name || 'inline'}]` : value;
    }),
  ) as unknown;
  return `${JSON.stringify(sortKeys(plain), null, 2)}\n`;
}

// ---------------------------------------------------------------------------
// README

function summary(machine: AnyStateMachine): string {
  const root = machine.root as unknown as NodeLike;
  const describe = (node: NodeLike): string => {
    const children = Object.values(node.states);
    if (children.length === 0) return node.key;
    const inner = children.map(describe).join(node.type === 'parallel' ? ' ‖ ' : ', ');
    return `${node.key} (${inner})`;
  };
  const states = Object.values(root.states).map(describe).join(', ');
  const invokes = [
    ...new Set(
      allNodes(root)
        .flatMap((node) => node.invoke)
        .map((inv) => refName(inv.src)),
    ),
  ];
  const lead = root.description ? `${root.description.replace(/\s+/g, ' ').trim()} ` : '';
  return `${lead}States: ${states}.${invokes.length > 0 ? ` Invokes: ${invokes.join(', ')}.` : ''}`;
}

function readme(machines: readonly MachineEntry[], diagrams: Map<string, string>): string {
  const out = [
    '# State machines',
    '',
    '<!-- Generated by `npm run machines` (scripts/machines.ts). Do not edit by hand. -->',
    '',
    'Generated from the machine definitions in `machines/`. Edge labels read',
    '`event [guard] / actions (reenter)`; `after <delay>` is a delayed transition; notes show the',
    "state's description, invoked actors and entry/exit actions. The full definitions are in the",
    '`<name>.json` files next to this page.',
    '',
  ];
  for (const { name, machine } of machines) {
    out.push(
      `## ${name}`,
      '',
      `${summary(machine)} ([${name}.mmd](${name}.mmd), [${name}.json](${name}.json))`,
    );
    out.push('', '```mermaid', diagrams.get(name)!.trimEnd(), '```', '');
  }
  return `${out.join('\n').trimEnd()}\n`;
}

// ---------------------------------------------------------------------------
// Public API

/** Every generated file, keyed by path relative to docs/machines/. Pure. */
export function renderMachineDocs(machines: readonly MachineEntry[]): Map<string, string> {
  const files = new Map<string, string>();
  const diagrams = new Map<string, string>();
  for (const { name, machine } of machines) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(name)) throw new Error(`bad machine doc name: ${name}`);
    if (diagrams.has(name)) throw new Error(`duplicate machine doc name: ${name}`);
    const mermaid = toMermaid(machine);
    diagrams.set(name, mermaid);
    files.set(`${name}.mmd`, mermaid);
    files.set(`${name}.json`, toDefinitionJson(machine));
  }
  files.set('README.md', readme(machines, diagrams));
  return files;
}

/** Generated-looking files in `dir` that `files` would not produce. */
function orphans(dir: string, files: Map<string, string>): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /\.(mmd|json|md)$/.test(f) && !files.has(f))
    .sort();
}

/** Paths (relative to `dir`) that are missing, different, or no longer generated. */
export function findStaleDocs(dir: string, files: Map<string, string>): string[] {
  const stale: string[] = [];
  for (const [rel, content] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
    const path = join(dir, rel);
    if (!existsSync(path) || readFileSync(path, 'utf8') !== content) stale.push(rel);
  }
  return [...stale, ...orphans(dir, files)];
}

export function writeMachineDocs(dir: string, files: Map<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const orphan of orphans(dir, files)) rmSync(join(dir, orphan));
  for (const [rel, content] of files) {
    const path = join(dir, rel);
    if (!existsSync(path) || readFileSync(path, 'utf8') !== content) writeFileSync(path, content);
  }
}
