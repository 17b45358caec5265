/**
 * `apply`'s checks that need the schema catalog: the schema definition files beside each
 * applied connector directory (`<dir>/schemas/*.json`), and every stream's mapping against
 * the catalog (config only: no partner database is contacted). Every problem carries its
 * file, line and key path.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ConfigProblem } from '../errors.ts';
import { checkStreamMapping } from '../mapping/mapping-checks.ts';
import { loadSchemaDefinitionFiles, SchemaCatalog, type SchemaDefinition } from '../mapping/schema-definitions.ts';
import { lineLocator, type LoadedConnector } from './load-connectors.ts';
import { streamTimeZone } from './stream-time-zone.ts';

/** Definitions read from schema files, the catalog they make with `base`, and their problems. */
export interface AppliedSchemas {
  /** Definitions from files (to register); those of `base` are not repeated. */
  definitions: SchemaDefinition[];
  catalog: SchemaCatalog;
  problems: ConfigProblem[];
}

/** Loads `<dir>/schemas/*.json` of every applied directory on top of `base` (built-ins and registered definitions). */
export async function loadAppliedSchemas(paths: string[], base: readonly SchemaDefinition[]): Promise<AppliedSchemas> {
  const problems: ConfigProblem[] = [];
  let all: readonly SchemaDefinition[] = base;
  for (const p of paths) {
    if (!(await stat(p).catch(() => undefined))?.isDirectory()) continue;
    const loaded = await loadSchemaDefinitionFiles(path.join(p, 'schemas'), all);
    problems.push(...loaded.problems);
    all = loaded.catalog.definitions;
  }
  const inBase = new Set(base);
  return { definitions: all.filter((d) => !inBase.has(d)), catalog: new SchemaCatalog(all), problems: await withLines(problems) };
}

/** Every mapping problem of every stream of the connectors, checked against the catalog. */
export async function mappingProblems(connectors: LoadedConnector[], catalog: SchemaCatalog): Promise<ConfigProblem[]> {
  const problems: ConfigProblem[] = [];
  for (const c of connectors) {
    c.config.streams.forEach((stream, i) => {
      const at = `streams[${i}]`;
      const definition = catalog.get(stream.schema);
      const found = definition
        ? checkStreamMapping({ stream, definition, path: at, timezone: streamTimeZone(c.config, stream), defaultPhoneRegion: c.config.default_phone_region })
        : [{ path: `${at}.schema`, message: `Reach schema "${stream.schema}" is not defined (known: ${catalog.definitions.map((d) => d.name).join(', ')}); add it to schemas/*.json beside the connector files` }];
      problems.push(...found.map((p) => ({ ...p, file: c.file })));
    });
  }
  return withLines(problems);
}

/** Adds the line of each problem's key path in its file. */
async function withLines(problems: ConfigProblem[]): Promise<ConfigProblem[]> {
  const locators = new Map<string, (keyPath: string) => number | undefined>();
  const out: ConfigProblem[] = [];
  for (const p of problems) {
    if (!p.file || p.line !== undefined) {
      out.push(p);
      continue;
    }
    let locate = locators.get(p.file);
    if (!locate) {
      locate = await readFile(p.file, 'utf8').then(lineLocator, () => () => undefined);
      locators.set(p.file, locate);
    }
    out.push({ ...p, line: locate(p.path) });
  }
  return out;
}
