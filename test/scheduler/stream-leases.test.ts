/** Leases cap a source's concurrent runs across every replica, not per process. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireLease, releaseLease } from '../../src/scheduler/stream-leases.ts';
import type { Store } from '../../src/store/open-store.ts';
import { freshStore, registerYaml } from '../helpers/store.ts';

const connectorYaml = (tenant: string) => `
tenant: ${tenant}
source: { dialect: postgres, host: 127.0.0.1, database: shared_partner, user: reach_ro, password: "\${env:UNUSED}", max_connections: 1 }
streams:
  - { name: customers, view: customers_v, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: id } }
`;

describe('stream leases', () => {
  let store: Store;
  beforeAll(async () => {
    store = await freshStore('rp_leases');
  });
  afterAll(async () => {
    await store?.close();
  });

  it('grant a source only as many live leases as its max_connections, whichever replica asks', async () => {
    const a = await registerYaml(store, 'lease-a', connectorYaml('lease-a'));
    const b = await registerYaml(store, 'lease-b', connectorYaml('lease-b'));
    expect(a.sourceId).toBe(b.sourceId);
    const source = { id: a.sourceId, cap: 1 };
    const refA = { connectorId: 'lease-a', stream: 'customers' };
    const refB = { connectorId: 'lease-b', stream: 'customers' };
    expect(await acquireLease(store.db, refA, 'replica-1', 30, source)).toBe('held');
    expect(await acquireLease(store.db, refA, 'replica-2', 30, source)).toBe('taken');
    expect(await acquireLease(store.db, refB, 'replica-2', 30, source)).toBe('source-full');
    await releaseLease(store.db, refA, 'replica-1');
    expect(await acquireLease(store.db, refB, 'replica-2', 30, source)).toBe('held');
    // Two at once on a source with room for one: exactly one wins.
    await releaseLease(store.db, refB, 'replica-2');
    const race = await Promise.all([
      acquireLease(store.db, refA, 'replica-1', 30, source),
      acquireLease(store.db, refB, 'replica-2', 30, source),
    ]);
    expect(race.sort()).toEqual(['held', 'source-full']);
  });
});
