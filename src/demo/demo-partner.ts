/**
 * The demo's partner: an in-memory PostgreSQL (PGlite, PostgreSQL in WASM) served on a
 * local TCP port by pglite-socket, so the puller reaches it through the same `pg` driver and
 * Source as a real partner. It holds "SalonSoft", a salon software with three salons in
 * shared tables, and the `reach.customers_v` / `reach.transactions_v` views it gives Reach,
 * seeded with the mess real partner data has.
 */
import type { PGlite } from '@electric-sql/pglite';
import { PullerError } from '../errors.ts';

/** The salons (tenants) in the partner's shared tables, by business_id. */
export const DEMO_BUSINESSES = [
  { businessId: 101, tenant: 'bella-hair-studio', name: 'Bella Hair Studio' },
  { businessId: 102, tenant: 'north-cuts-barbers', name: 'North Cuts Barbers' },
  { businessId: 103, tenant: 'zen-nail-spa', name: 'Zen Nail Spa' },
] as const;

/** The port the files in connectors/demo/ name. */
export const DEMO_PARTNER_PORT = 55432;

export interface DemoPartner {
  port: number;
  /** Runs statements in one read-write transaction (the partner's application writing). */
  write(sql: string): Promise<void>;
  /** Reads rows directly, outside the puller. */
  query<R>(sql: string): Promise<R[]>;
  /** The partner database's clock, as timestamptz text. */
  now(): Promise<string>;
  close(): Promise<void>;
}

/** Starts the embedded partner database on `port` and seeds it. */
export async function startDemoPartner(port = DEMO_PARTNER_PORT): Promise<DemoPartner> {
  // Loaded lazily: PGlite's WASM is paid for only by the demo.
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const db: PGlite = await PGlite.create();
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port });
  try {
    await server.start();
  } catch (error) {
    await db.close();
    throw new PullerError('RP_DEMO_PORT_BUSY', `The demo partner database needs 127.0.0.1:${port}, which is in use (another demo running?)`, { cause: error });
  }
  const partner: DemoPartner = {
    port,
    // PGlite is one session, shared with the socket: say READ WRITE explicitly, whatever the puller's session set.
    write: async (sql) => {
      await db.exec(`BEGIN READ WRITE; ${sql}; COMMIT;`);
    },
    query: async <R>(sql: string) => (await db.query<R>(sql)).rows,
    now: async () => (await db.query<{ now: string }>('select now()::text as now')).rows[0]!.now,
    close: async () => {
      await server.stop();
      await db.close();
    },
  };
  try {
    await partner.write(SEED_SQL);
  } catch (error) {
    await partner.close();
    throw error;
  }
  return partner;
}

// Deterministic mess from the row number: mixed-case and padded emails, five phone formats,
// missing names, a few phones no one can dial and a few statuses Reach does not know.
const SEED_SQL = `
create schema salon;
create table salon.businesses (business_id int primary key, name text not null);
insert into salon.businesses values ${DEMO_BUSINESSES.map((b) => `(${b.businessId}, '${b.name}')`).join(', ')};
create table salon.clients (
  client_id bigint primary key, business_id int not null references salon.businesses,
  email text, phone text, first_name text, last_name text,
  created_at timestamptz not null, updated_at timestamptz not null);
create table salon.sales (
  sale_id bigint primary key, business_id int not null references salon.businesses,
  client_id bigint not null references salon.clients, total numeric(12,2) not null, state text not null,
  created_at timestamptz not null, updated_at timestamptz not null);
create index on salon.clients (business_id, updated_at, client_id);
create index on salon.sales (business_id, updated_at, sale_id);

insert into salon.clients
select g, 101 + g % 3,
  case when g % 11 = 0 then null
       when g % 5 = 0 then '  ' || initcap(f.n) || '.' || initcap(l.n) || '@Example.COM '
       when g % 4 = 0 then upper(f.n) || g || '@MAIL.TEST'
       else f.n || '.' || l.n || g || '@example.com' end,
  case when g % 150 = 7 then 'call after 5pm'
       when g % 6 = 0 then '(415) 555-' || lpad((g % 10000)::text, 4, '0')
       when g % 6 = 1 then '415.555.' || lpad((g % 10000)::text, 4, '0')
       when g % 6 = 2 then '+1 415 555 ' || lpad((g % 10000)::text, 4, '0')
       when g % 6 = 3 then '415555' || lpad((g % 10000)::text, 4, '0')
       when g % 6 = 4 then null
       else '' end,
  case when g % 13 = 0 then null else initcap(f.n) end,
  case when g % 17 = 0 then '' else initcap(l.n) end,
  now() - interval '400 days' + g * interval '6 hours',
  now() - interval '300 days' + g * interval '8 hours'
from generate_series(1, 900) g
cross join lateral (select (array['anna','maria','li','sofia','james','omar','chloe','lucas','ines','noah'])[1 + g % 10] as n) f
cross join lateral (select (array['smith','garcia','chen','dubois','okafor','rossi','novak','silva','khan'])[1 + (g / 10) % 9] as n) l;

insert into salon.sales
select g, 101 + g % 3, c.client_id,
  (15 + (g * 37) % 20000 / 100.0)::numeric(12,2),
  case when g % 400 = 13 then 'refunded_partial'
       when g % 10 < 7 then 'completed' when g % 10 < 9 then 'open' else 'void' end,
  now() - interval '200 days' + g * interval '2 hours' - interval '2 hours',
  -- Each sale was last touched an hour after it was rung up; the newest, an hour ago.
  now() - interval '200 days' + g * interval '2 hours' - interval '1 hour'
from generate_series(1, 2400) g
-- A client of the same salon whose row is valid, so every sale's customer exists in Reach.
cross join lateral (select 3 * (1 + (g * 7) % 290) + g % 3 as id) k
cross join lateral (select case when k.id % 150 = 7 then k.id + 3 else k.id end as client_id) c;

create schema reach;
create view reach.customers_v as
  select client_id as customer_id, business_id, email, phone, first_name, last_name, created_at, updated_at from salon.clients;
create view reach.transactions_v as
  select sale_id as transaction_id, business_id, client_id as customer_id, total as amount, state as status, created_at, updated_at
  from salon.sales`;

/** The partner's application at work after the backfill: edits, a cancellation, new clients and sales. */
export const DEMO_CHANGES_SQL = `
update salon.sales set state = 'void', updated_at = now() where sale_id = 3;
update salon.clients set email = 'Anna.Garcia+new@Example.com', updated_at = now() where client_id = 10;
update salon.clients set phone = '(415) 555-0107', updated_at = now() where client_id = 7;
insert into salon.clients values
  (901, 101, 'New.Client@Example.com', '415 555 0901', 'Nora', 'Lind', now(), now()),
  (902, 102, 'walkin@mail.test', '+1 (415) 555-0902', 'Theo', null, now(), now()),
  (903, 103, null, '4155550903', 'Ava', 'Moreau', now(), now());
insert into salon.sales values
  (2401, 101, 901, 85.00, 'completed', now(), now()),
  (2402, 102, 902, 32.50, 'open', now(), now()),
  (2403, 103, 903, 120.00, 'completed', now(), now())`;

/** The late sale: written with the updated_at its transaction took when it began, before the pull. */
export function lateCommitSql(begunAt: string): string {
  return `insert into salon.sales values (2404, 101, 901, 45.00, 'completed', '${begunAt}', '${begunAt}')`;
}
