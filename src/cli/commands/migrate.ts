import type { Command } from 'commander';

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('Create or upgrade the state store schema (also done at start-up)')
    .action(async () => {
      const { openStore, storeOptionsFromEnv } = await import('../../store/open-store.ts');
      const { migrateStore } = await import('../../store/migrate.ts');
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
