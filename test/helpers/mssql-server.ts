/**
 * A live SQL Server for tests: MSSQL_URL when set, else a testcontainers container when a
 * Docker engine answers, else none, with the reason the live tests report when skipped.
 * One per test process: the live suite and the lab's SQL Server partners share it.
 */
export interface MssqlServer {
  url?: string;
  /** Why there is no server (shown in the skipped tests' names). */
  reason: string;
  stop(): Promise<void>;
}

const SA_PASSWORD = 'Reach-puller-Test-1';

let resolved: Promise<MssqlServer> | undefined;

/** Finds or starts the process's SQL Server (once); never throws for its absence. */
export function resolveMssqlServer(): Promise<MssqlServer> {
  return (resolved ??= findOrStart());
}

async function findOrStart(): Promise<MssqlServer> {
  if (process.env.MSSQL_URL) return { url: process.env.MSSQL_URL, reason: 'MSSQL_URL', stop: async () => {} };
  let testcontainers: typeof import('testcontainers');
  try {
    testcontainers = await import('testcontainers');
    await testcontainers.getContainerRuntimeClient();
  } catch {
    return { reason: 'no MSSQL_URL and no Docker engine', stop: async () => {} };
  }
  const container = await new testcontainers.GenericContainer('mcr.microsoft.com/mssql/server:2022-latest')
    .withEnvironment({ ACCEPT_EULA: 'Y', MSSQL_SA_PASSWORD: SA_PASSWORD })
    .withExposedPorts(1433)
    .withWaitStrategy(testcontainers.Wait.forLogMessage(/Recovery is complete/))
    .withStartupTimeout(180_000)
    .start();
  const url = `mssql://sa:${encodeURIComponent(SA_PASSWORD)}@${container.getHost()}:${container.getMappedPort(1433)}/master`;
  return { url, reason: 'testcontainers', stop: async () => void (await container.stop()) };
}
