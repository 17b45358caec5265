/**
 * Connectors share a partner pool only when their sessions are equally secure. A connector
 * that demands TLS never reads over a plaintext connection a `disable` neighbour opened on
 * the same source in the same process, and one credential's session never serves another.
 */
import { connectionSettings, openConnectorSource, storeRuntime } from '../../src/engine/connector-runtime.ts';
import { openPoolCount } from '../../src/sources/source-pools.ts';
import { emailStreamYaml } from '../helpers/partner.ts';
import { describe, expect, test } from '../fixture.ts';

describe('pool identity', () => {
  test('a require connector on a server without TLS reads nothing, though a plaintext neighbour has a pool open to it', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    await lab.view(partner, 'pi', 'id bigint primary key, email text, updated_at timestamptz not null', `values (1, 'a@x.io', now() - interval '1 hour')`);
    const stream = emailStreamYaml('s').replace('view: v', 'view: v_pi');
    const plain = await lab.connector(store, partner, { id: 'plain', body: stream, source: 'settle_seconds: 0' });
    const secure = await lab.connector(store, partner, { id: 'secure', body: stream, source: 'settle_seconds: 0' });
    // The same source and user; only the TLS mode differs.
    const demanding = { ...secure, config: { ...secure.config, source: { ...secure.config.source, ssl: { mode: 'require' as const } } } };
    const open = await openConnectorSource(plain.config, storeRuntime(store.db));
    try {
      await open.withReadSession((s) => s.raw('select 1'));
      const before = openPoolCount();
      const [run] = await lab.pull(store, demanding);
      expect(run).toMatchObject({ status: 'failed', rowsRead: 0 });
      expect(String(run!.error?.message)).toMatch(/SSL|TLS/i);
      // It tried a pool of its own, and left none behind.
      expect(openPoolCount()).toBe(before);
      expect((await connectionSettings(demanding.config)).ssl.mode).toBe('require');
    } finally {
      await open.close();
    }
  });
});
