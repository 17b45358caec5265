/**
 * The local Reach API in a process of its own, as Reach is in production, so its work does
 * not share the measured process's thread: `fork`ed by bench/run.ts, it sends `{url}` once
 * listening and answers `{settled: [tenant, schema]}` with `{count}` once every batch is processed.
 */
import { startReachApiServer } from '../src/dev/reach-api-server.ts';

const server = await startReachApiServer({ token: process.argv[2]!, processingDelayMs: 0 });
process.send!({ url: server.url });
process.on('message', (message: { settled: [string, string] }) => {
  void server.settled().then(() => process.send!({ count: server.resources(...message.settled).size }));
});
process.on('disconnect', () => void server.close());
