/**
 * Reads connector files, validates every one of them and reports every problem at once
 * with file, line and key path. Only code after this sees typed configuration.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { LineCounter, parseDocument, isMap, isNode, isScalar, isSeq, type Document } from 'yaml';
import cron from 'node-cron';
import { ConfigError, type ConfigProblem } from '../errors.ts';
import { connectorSchema, SECRET_REFERENCE, type ConnectorConfig } from './connector-schema.ts';

/** A validated connector file. */
export interface LoadedConnector {
  id: string;
  file: string;
  config: ConnectorConfig;
  /** Hash of the validated config, to tell whether `apply` changes anything. */
  hash: string;
}

// A connector file is a few KB; anything far larger is a mistake or an attack.
const MAX_FILE_BYTES = 256 * 1024;
// YAML aliases can expand exponentially ("billion laughs"); real files need none or few.
const MAX_ALIAS_COUNT = 100;

/** Lists connector files: the given files, and `*.yaml|*.yml` directly inside given directories. */
export async function connectorFiles(paths: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const p of paths) {
    const s = await stat(p).catch(() => undefined);
    if (!s) throw new ConfigError([{ file: p, path: '', message: 'no such file or directory' }]);
    if (s.isDirectory()) {
      const entries = (await readdir(p)).filter((f) => /\.ya?ml$/.test(f)).sort();
      files.push(...entries.map((f) => path.join(p, f)));
    } else {
      files.push(p);
    }
  }
  return files;
}

/** Loads and validates connector files; throws one ConfigError listing every problem. */
export async function loadConnectors(paths: string[]): Promise<LoadedConnector[]> {
  const files = await connectorFiles(paths);
  const problems: ConfigProblem[] = [];
  const loaded: LoadedConnector[] = [];
  for (const file of files) {
    const result = await loadConnectorFile(file);
    problems.push(...result.problems);
    if (result.connector) loaded.push(result.connector);
  }
  problems.push(...crossFileProblems(loaded));
  if (files.length === 0) problems.push({ path: '', message: `no connector files (*.yaml) in ${paths.join(', ')}` });
  if (problems.length > 0) throw new ConfigError(problems.sort(byFileAndLine));
  return loaded;
}

/** Validates one file; never throws for bad content. */
export async function loadConnectorFile(file: string): Promise<{ connector?: LoadedConnector; problems: ConfigProblem[] }> {
  const size = (await stat(file)).size;
  if (size > MAX_FILE_BYTES) {
    return { problems: [{ file, path: '', message: `file is ${size} bytes; the limit is ${MAX_FILE_BYTES}` }] };
  }
  return parseConnector(file, await readFile(file, 'utf8'));
}

/** Validates connector YAML text as if read from `file`. */
export function parseConnector(file: string, text: string): { connector?: LoadedConnector; problems: ConfigProblem[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const lineOf = (offset: number | undefined) => (offset === undefined ? undefined : lineCounter.linePos(offset).line);
  const problems: ConfigProblem[] = doc.errors.map((e) => {
    const message = e.message.split('\n')[0]!;
    // The parser notices an unclosed quote or flow collection where it ends up (the end of the
    // file, the next key); the problem starts where it opened.
    const quote = /^Missing closing (["'])quote/.exec(message)?.[1];
    const flow = /^Flow (sequence|map)\b|flow (sequence|map) to end with/i.exec(message);
    const opened = quote
      ? openingQuoteLine(text, quote, e.pos[0])
      : flow ? openingBracketLine(text, (flow[1] ?? flow[2])!.toLowerCase() === 'map' ? '{' : '[', e.pos[0]) : undefined;
    const line = opened ?? lineOf(e.pos[0]);
    return { file, line, path: '', message };
  });
  problems.push(...reservedKeyProblems(doc, (offset) => lineOf(offset), file));
  if (problems.length > 0) return { problems };

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    return { problems: [{ file, path: '', message: (error as Error).message }] };
  }
  const at = (keyPath: (string | number)[], message: string): ConfigProblem => ({
    file,
    line: lineAt(doc, keyPath, lineOf),
    path: formatPath(keyPath),
    message,
  });

  const password = (raw as { source?: { password?: unknown } } | null)?.source?.password;
  if (typeof password === 'string' && !SECRET_REFERENCE.test(password)) {
    // Say where, never what: the value itself must not reach any output.
    problems.push(at(['source', 'password'], 'plaintext password refused: use ${env:NAME}, ${file:PATH} or ${secret:NAME}'));
  }
  problems.push(...semanticProblems(raw).map((p) => at(p.keyPath, p.message)));
  const parsed = connectorSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const keyPath = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
      if (formatPath(keyPath) === 'source.password' && problems.length > 0) continue;
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) problems.push(at([...keyPath, key], 'unknown key'));
      } else {
        problems.push(at(keyPath, issueMessage(issue)));
      }
    }
  }
  if (problems.length > 0 || !parsed.success) return { problems };
  const config = parsed.data;
  const id = config.id ?? path.basename(file).replace(/\.ya?ml$/, '').toLowerCase();
  if (!CONNECTOR_ID.test(id)) {
    return { problems: [{ file, line: 1, path: 'id', message: `the file name gives the connector id "${id}", which is not one (lower-case letters, digits, _ or -, up to 128): rename the file or set id:` }] };
  }
  const hash = createHash('sha256').update(JSON.stringify(config)).digest('hex');
  return { connector: { id, file, config, hash }, problems };
}

/** The rule every connector id follows, set in the file or taken from its name. */
const CONNECTOR_ID = /^[a-z0-9][a-z0-9_-]{0,127}$/;

/** Keys that would reach an object's prototype, refused wherever they appear. */
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Every reserved key in the document, with its line. */
function reservedKeyProblems(doc: Document, lineOf: (offset: number | undefined) => number | undefined, file: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const walk = (node: unknown, keyPath: (string | number)[]) => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        if (RESERVED_KEYS.has(key)) {
          problems.push({ file, line: lineOf(isNode(pair.key) ? pair.key.range?.[0] : undefined), path: formatPath([...keyPath, key]), message: `the key "${key}" is reserved and refused` });
        }
        walk(pair.value, [...keyPath, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...keyPath, i]));
    }
  };
  walk(doc.contents, []);
  return problems;
}

/** The line of the last `[` or `{` that opens and is not closed before `offset` (quotes and comments skipped). */
function openingBracketLine(text: string, open: '[' | '{', offset: number): number | undefined {
  const close = open === '[' ? ']' : '}';
  const opens: number[] = [];
  let line = 1;
  let quote: string | undefined;
  for (let i = 0; i < Math.min(offset, text.length); i++) {
    const c = text[i]!;
    if (c === '\n') line++;
    if (quote) {
      if (c === quote && !(quote === '"' && text[i - 1] === '\\')) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) {
      while (i + 1 < text.length && text[i + 1] !== '\n') i++;
    } else if (c === open) opens.push(line);
    else if (c === close) opens.pop();
  }
  return opens.at(-1);
}

/** The line of the last quote of this kind that opens and never closes before `offset`. */
function openingQuoteLine(text: string, quote: string, offset: number): number | undefined {
  let open: number | undefined;
  let line = 1;
  for (let i = 0; i < Math.min(offset, text.length); i++) {
    const c = text[i];
    if (c === '\n') line++;
    if (c === '#' && open === undefined && (i === 0 || /\s/.test(text[i - 1]!))) {
      while (i < text.length && text[i] !== '\n') i++;
      i--;
      continue;
    }
    if (c !== quote) continue;
    if (open === undefined) open = line;
    else if (quote === '"' && text[i - 1] === '\\') continue;
    else if (quote === "'" && text[i + 1] === "'") i++;
    else open = undefined;
  }
  return open;
}

/**
 * Checks zod cannot express (unique names, cron, time zones, key columns). They run on the
 * raw input, beside the schema check, so a file's problems are all reported in one go.
 */
function semanticProblems(raw: unknown): { keyPath: (string | number)[]; message: string }[] {
  const out: { keyPath: (string | number)[]; message: string }[] = [];
  const config = (raw ?? {}) as DeepPartial<ConnectorConfig>;
  for (const key of ['schedule', 'verify_schedule'] as const) {
    const expression = config[key];
    if (typeof expression === 'string' && !cron.validate(expression)) out.push({ keyPath: [key], message: `"${expression}" is not a valid cron expression` });
  }
  for (const [keyPath, zone] of [[['schedule_timezone'], config.schedule_timezone], [['source', 'timezone'], config.source?.timezone]] as const) {
    if (typeof zone === 'string' && !isTimeZone(zone)) out.push({ keyPath: [...keyPath], message: `"${zone}" is not an IANA time zone` });
  }
  if (config.source?.ssl?.mode === 'verify-full' && !config.source.ssl.ca) {
    out.push({ keyPath: ['source', 'ssl', 'ca'], message: 'required when mode is verify-full' });
  }
  const names = new Set<string>();
  (Array.isArray(config.streams) ? config.streams : []).forEach((s, i) => {
    if (!s || typeof s !== 'object') return;
    if (typeof s.name === 'string' && names.has(s.name)) out.push({ keyPath: ['streams', i, 'name'], message: `duplicate stream name "${s.name}"` });
    if (typeof s.name === 'string') names.add(s.name);
    const key = Array.isArray(s.primary_key) ? s.primary_key : [];
    if (new Set(key).size !== key.length) out.push({ keyPath: ['streams', i, 'primary_key'], message: 'lists a column twice' });
    if (typeof s.timezone === 'string' && !isTimeZone(s.timezone)) {
      out.push({ keyPath: ['streams', i, 'timezone'], message: `"${s.timezone}" is not an IANA time zone` });
    }
    if (typeof s.cursor === 'string' && key.includes(s.cursor)) {
      out.push({ keyPath: ['streams', i, 'cursor'], message: 'must not be part of the primary key' });
    }
  });
  return out;
}

type DeepPartial<T> = T extends (infer U)[] ? (DeepPartial<U> | undefined)[] : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

/** Problems that span files: duplicate connector ids, one source with different caps. */
function crossFileProblems(connectors: LoadedConnector[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const ids = new Map<string, string>();
  const caps = new Map<string, { cap: number; file: string }>();
  for (const c of connectors) {
    const other = ids.get(c.id);
    if (other) problems.push({ file: c.file, path: 'id', message: `connector id "${c.id}" is also used by ${other}` });
    ids.set(c.id, c.file);
    const s = c.config.source;
    const key = `${s.dialect}://${s.user}@${s.host}:${s.port ?? ''}/${s.database}`;
    const seen = caps.get(key);
    if (seen && seen.cap !== s.max_connections) {
      problems.push({
        file: c.file,
        path: 'source.max_connections',
        message: `${s.max_connections} differs from ${seen.cap} in ${seen.file}; connectors sharing a source share one cap`,
      });
    }
    caps.set(key, { cap: s.max_connections, file: c.file });
  }
  return problems;
}

function byFileAndLine(a: ConfigProblem, b: ConfigProblem): number {
  return (a.file ?? '').localeCompare(b.file ?? '') || (a.line ?? 0) - (b.line ?? 0);
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function issueMessage(issue: { code: string; message: string }): string {
  if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) return 'required';
  return issue.message;
}

/** `streams[1].cursor` style path. */
export function formatPath(keyPath: (string | number)[]): string {
  return keyPath.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
}

/** The line of the deepest existing node on the path (a missing key points at its parent). */
function lineAt(doc: Document, keyPath: (string | number)[], lineOf: (o: number | undefined) => number | undefined): number | undefined {
  for (let n = keyPath.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(keyPath.slice(0, n), true);
    if (isNode(node) && node.range) return lineOf(node.range[0]);
  }
  return undefined;
}

/**
 * Finds lines in YAML (or JSON) text by problem path (`streams[0].fields.address.city`,
 * `schema.properties.email`). Keys may contain dots, so the longest key that matches wins;
 * a path that runs past the document points at the deepest key it reached.
 */
export function lineLocator(text: string): (path: string) => number | undefined {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const lineOf = (node: unknown) => (isNode(node) && node.range ? lineCounter.linePos(node.range[0]).line : undefined);
  return (problemPath) => {
    const tokens = problemPath.split(/\.|(?=\[)/).filter((t) => t !== '').map((t) => (/^\[\d+\]$/.test(t) ? Number(t.slice(1, -1)) : t));
    let node: unknown = doc.contents;
    let line = lineOf(node);
    for (let i = 0; i < tokens.length;) {
      const token = tokens[i]!;
      if (isSeq(node) && typeof token === 'number' && node.items[token] !== undefined) {
        node = node.items[token];
        line = lineOf(node) ?? line;
        i++;
        continue;
      }
      if (!isMap(node)) break;
      const items = node.items;
      const match = tokens.slice(i).map((_, n) => tokens.slice(i, tokens.length - n).join('.'))
        .map((key) => ({ key, pair: items.find((p) => (isScalar(p.key) ? String(p.key.value) : p.key) === key) }))
        .find((m) => m.pair !== undefined);
      if (!match) break;
      line = lineOf(match.pair!.key) ?? line;
      node = match.pair!.value;
      i += match.key.split('.').length;
    }
    return line;
  };
}
