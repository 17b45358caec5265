/** A fresh, migrated state store on the real PostgreSQL, and connectors registered from YAML text. */
import { openStore, type Store } from '../../src/store/open-store.ts';
import { parseConnector } from '../../src/config/load-connectors.ts';
import { formatProblem } from '../../src/errors.ts';
import { getConnector, registerConnectors, type RegisteredConnector } from '../../src/store/connector-registry.ts';
import { freshPgDatabase } from './databases.ts';

/** Opens a migrated store in its own database. */
export async function freshStore(name: string): Promise<Store> {
  return openStore({ databaseUrl: await freshPgDatabase(name), migrate: true });
}

/** Validates YAML like `apply` does, registers it and returns the registered connector. */
export async function registerYaml(store: Store, id: string, yaml: string): Promise<RegisteredConnector> {
  const { connector, problems } = parseConnector(`${id}.yaml`, yaml);
  if (!connector) throw new Error(problems.map(formatProblem).join('\n'));
  await registerConnectors(store.db, [connector]);
  return getConnector(store.db, connector.id);
}
