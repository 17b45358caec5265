/**
 * A `people` stream into `contacts` whose external id is a `code` column (so rows can share
 * one), with a phone that must be a number (so a row can be quarantined): verify's tests of
 * ranges build theirs on it.
 */
import type { Store } from '../../src/store/open-store.ts';
import type { Lab } from '../fixture.ts';
import type { Partner } from './partner.ts';

/** The view `v_<name>` over `rows` (SQL tuples of id, code, phone, first_name, updated_at) and its connector. */
export async function codedPeople(lab: Lab, store: Store, partner: Partner, name: string, rows: string[]) {
  const { table } = await lab.view(partner, name, 'id bigint primary key, code text not null, phone text, first_name text, updated_at timestamp(6) not null',
    `values ${rows.join(', ')}`);
  const connector = await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0', body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, reject_threshold: 1,
      fields: { id: code, first_name: first_name, phone: { column: phone, transform: [{ phone_e164: { region: US } }] } } }
` });
  return { table, connector };
}
