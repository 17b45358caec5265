/**
 * One backfill in its own process, so its peak RSS is the puller's alone:
 * `tsx bench/backfill-child.ts <store-url> <connector>` prints `{"rows", "seconds", "vmHwmKb"}`.
 */
import { readFileSync } from 'node:fs';
import { startBackfill } from '../src/backfill/run-backfill.ts';
import { createLogger } from '../src/log.ts';
import { openStore } from '../src/store/open-store.ts';

const [storeUrl, connector] = process.argv.slice(2) as [string, string];
const store = await openStore({ databaseUrl: storeUrl, migrate: false });
try {
  const started = performance.now();
  const handle = await startBackfill({ store: store.db, log: createLogger({ level: 'warn', pretty: false }) }, { connector });
  const result = await handle.done;
  const seconds = (performance.now() - started) / 1000;
  if (result.state !== 'succeeded') throw new Error(`backfill ${result.state}: ${result.error}`);
  const vmHwmKb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
  process.stdout.write(`${JSON.stringify({ rows: result.rowsDone, seconds, vmHwmKb })}\n`);
} finally {
  await store.close();
}
