/**
 * `source.require_read_only_user: true`: a credential that can write is refused before any
 * read, naming its privileges; the partner's SELECT-only user pulls as usual.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pullConnector } from '../../src/engine/pull-connector.ts';
import { PermanentError } from '../../src/errors.ts';
import type { Store } from '../../src/store/open-store.ts';
import { mysqlExec, MYSQL_URL, pgExec, PG_URL } from '../helpers/databases.ts';
import { emailStreamYaml, freshPartner, RO_PASSWORD, RO_USER, TEST_DIALECTS, type Partner } from '../helpers/partner.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { freshStore, registerYaml } from '../helpers/store.ts';

const RW_USER = 'rp_sec_rw';

for (const dialect of TEST_DIALECTS) {
  describe(`require_read_only_user on ${dialect}`, () => {
    let partner: Partner;
    let store: Store;

    beforeAll(async () => {
      partner = await freshPartner(dialect, `rp_sec_priv_${dialect}`);
      store = await freshStore(`rp_sec_priv_store_${dialect}`);
      await partner.exec(
        `create table t (id integer primary key, email ${partner.types.text}, updated_at ${partner.types.timestamp})`,
        "insert into t values (1, 'a@example.com', '2024-01-01 00:00:00')",
        'create view v as select id, email, updated_at from t',
      );
      await partner.grantReadOnly();
      if (dialect === 'postgres') {
        await pgExec(PG_URL, `do $$ begin if not exists (select from pg_roles where rolname = '${RW_USER}') then create role ${RW_USER} login; end if; end $$`)
          .catch(() => undefined);
        await partner.exec(`grant usage on schema public to ${RW_USER}`, `grant select, insert on t to ${RW_USER}`);
      } else {
        for (const host of ['%', 'localhost']) {
          await mysqlExec(MYSQL_URL, `create user if not exists '${RW_USER}'@'${host}' identified by '${RO_PASSWORD}'`,
            `grant select, insert on \`${partner.database}\`.* to '${RW_USER}'@'${host}'`);
        }
      }
    });
    afterAll(async () => {
      await store?.close();
    });

    const yaml = (user: string) => partner.sourceYaml('  require_read_only_user: true\n  settle_seconds: 0\n').replace(`user: ${RO_USER}`, `user: ${user}`);
    const streams = emailStreamYaml();

    it('refuses a credential that can INSERT, naming the privilege', async () => {
      const connector = await registerYaml(store, 'rw', `tenant: t-rw\n${yaml(RW_USER)}${streams}`);
      const error = await pullConnector({ store: store.db, connector, log: testLog }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PermanentError);
      expect((error as PermanentError).code).toBe('RP_SOURCE_WRITABLE');
      expect((error as PermanentError).message).toMatch(/INSERT/);
    });

    it('pulls with the SELECT-only user', async () => {
      const connector = await registerYaml(store, 'ro', `tenant: t-ro\n${yaml(RO_USER)}${streams}`);
      const [summary] = await pullConnector({ store: store.db, connector, log: testLog });
      expect(summary!.error).toBeUndefined();
      expect(summary!.rowsSent).toBe(1);
    });
  });
}
