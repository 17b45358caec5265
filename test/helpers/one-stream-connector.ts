/** A registered connector with one stream, `rows`, on a fresh view: what a run of it needs, for tests of runs themselves. */
import type { Lab } from '../fixture.ts';

export async function oneStreamConnector(lab: Lab, id: string) {
  const partner = await lab.partner('postgres');
  const store = await lab.store();
  const { view } = await lab.view(partner, lab.unique('runs'), 'id bigint primary key, updated_at timestamptz not null');
  const connector = await lab.connector(store, partner, { id, body: `streams:
  - { name: rows, view: ${view}, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: id } }
` });
  return { store, connector, ref: { connectorId: connector.id, stream: 'rows' } };
}
