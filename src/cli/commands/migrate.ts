import type { Command } from 'commander';
import { openStore, storeOptionsFromEnv } from '../../store/open-store.ts';
import { migrateStore } from '../../store/migrate.ts';

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('Create or upgrade the state store schema (also done at start-up)')
    .action(async () => {
      const store = await openStore({ ...storeOptionsFromEnv(), migrate: false });
      try {
        const r = await migrateStore(store.db);
        process.stdout.write(
          `${store.kind} store at ${store.location}: schema version ${r.version}` +
            `${r.applied.length ? `, applied ${r.applied.join(', ')}` : ', up to date'}\n`,
        );
      } finally {
        await store.close();
      }
    });
}
