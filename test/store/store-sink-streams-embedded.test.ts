/** The per-stream version guard on the embedded (PGlite) store: each writer lands its fields, each one's older read and delete refused. */
import { StoreSink } from '../../src/sinks/store/store-sink.ts';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test } from '../fixture.ts';

const upsert = (externalId: string, record: object, version: string) => ({ externalId, json: JSON.stringify(record), version });

describe('embedded store, guard per stream', () => {
  test('two writers land their fields; each one\'s older read and delete are refused', async ({ lab }) => {
    const store = await lab.embeddedStore();
    const sink = new StoreSink();
    const w = (writer: string, upserts: ReturnType<typeof upsert>[], deletes: { externalId: string; version: string }[] = []) =>
      store.db.transaction().execute((trx) => sink.write(trx, { tenant: 't', schema: 'contacts', writer, upserts, deletes }));
    await w('c/crm', [upsert('1', { id: '1', first_name: 'Ann' }, '2024-01-02')]);
    await w('c/mail', [upsert('1', { id: '1', email: 'a@x.io' }, '2024-01-01')]);
    await w('c/crm', [upsert('1', { id: '1', first_name: 'Old' }, '2024-01-01')]);
    await w('c/mail', [], [{ externalId: '1', version: '2023-12-31' }]);
    expect(await readResources(store.db, 't', 'contacts')).toEqual([{ id: '1', first_name: 'Ann', email: 'a@x.io' }]);
  });
});
