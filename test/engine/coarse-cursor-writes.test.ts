/**
 * A MariaDB DATETIME(0) cursor stamped by NOW() in a non-UTC zone (UTC+1, `source.timezone:
 * Etc/GMT-1`), settle window 0, page size 2, pulls back to back while a writer inserts and
 * updates rows inside the current second: every row ends at its newest value (no tie,
 * second or zone loses one). (Kept from the review of the one delivery order, where it held.)
 */
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test } from '../fixture.ts';

describe('MariaDB DATETIME(0), wall clock in UTC+1, settle 0', () => {
  test('rows written within the current second are never passed', async ({ lab }) => {
    const partner = await lab.partner('mysql');
    const store = await lab.store();
    const name = lab.unique('dt');
    await lab.view(partner, name, 'id bigint primary key, email varchar(100), updated_at datetime not null');
    const connector = await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0\ntimezone: Etc/GMT-1', body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 2, fields: { id: id, email: email } }
` });
    const writer = await mysql.createConnection({ uri: partner.url });
    await writer.query("set time_zone = '+01:00'");
    let stop = false;
    const pulls = (async () => { while (!stop) await lab.pull(store, connector); })();
    for (let i = 0; i < 120; i++) {
      const id = 1 + Math.floor(Math.random() * 40);
      await writer.query(`insert into t_${name} values (?, ?, now()) on duplicate key update email = values(email), updated_at = now()`, [id, `v${i}-${id}@x.io`]);
      await sleep(15);
    }
    stop = true;
    await pulls;
    await writer.end();
    await sleep(1_200);
    await lab.pull(store, connector);
    const view = await partner.query<{ id: string; email: string }>(`select cast(id as char) as id, email from v_${name} order by id`);
    const got = Object.fromEntries((await readResources(store.db, connector.tenant, 'contacts')).map((r) => [String(r.id), r]));
    expect(got).toEqual(Object.fromEntries(view.map((r) => [r.id, { id: r.id, email: r.email }])));
  }, 120_000);
});
