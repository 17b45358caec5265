/** The `reach-puller` program: every command registered on one commander tree. Exit codes: 0 ok, 1 failure, 2 usage or config error. */
import { Command, CommanderError } from 'commander';
import { EXIT, reportError } from './output.ts';

type Registrar = (program: Command) => void;

/**
 * Every top-level command and the module that registers it. Only the command being run is
 * loaded (help and unknown words load them all), and a command module imports at its top only
 * what declaring it needs: its action imports what it runs. So `--help` loads no driver, store
 * or engine code, and `reach-puller status` not the backfill, server and demo code.
 */
const COMMANDS: Record<string, () => Promise<Registrar>> = {
  migrate: async () => (await import('./commands/migrate.ts')).registerMigrate,
  apply: async () => (await import('./commands/apply.ts')).registerApply,
  connectors: async () => (await import('./commands/connectors.ts')).registerConnectorsCommands,
  test: async () => (await import('./commands/test-connector.ts')).registerTest,
  preview: async () => (await import('./commands/preview.ts')).registerPreview,
  pull: async () => (await import('./commands/pull.ts')).registerPull,
  backfill: async () => (await import('./commands/backfill.ts')).registerBackfill,
  reset: async () => (await import('./commands/reset.ts')).registerReset,
  rejects: async () => (await import('./commands/rejects.ts')).registerRejects,
  'retry-rejects': async () => (await import('./commands/retry-rejects.ts')).registerRetryRejects,
  reconcile: async () => (await import('./commands/reconcile.ts')).registerReconcile,
  verify: async () => (await import('./commands/verify.ts')).registerVerify,
  serve: async () => (await import('./commands/serve.ts')).registerServe,
  status: async () => (await import('./commands/status.ts')).registerStatus,
  runs: async () => (await import('./commands/runs.ts')).registerRuns,
  unpark: async () => (await import('./commands/unpark.ts')).registerUnpark,
  secret: async () => (await import('./commands/secret.ts')).registerSecretCommands,
  resources: async () => (await import('./commands/resources.ts')).registerResources,
  dev: async () => (await import('./commands/dev.ts')).registerDev,
  demo: async () => (await import('./commands/demo.ts')).registerDemo,
};
// `backfills` is registered by the backfill module, as an alias of `backfill list`.
const ALIASES: Record<string, string> = { backfills: 'backfill' };

/** Builds the program with the command `argv` names, or with every command. */
export async function buildProgram(argv: string[] = []): Promise<Command> {
  const program = new Command('reach-puller')
    .description('Pulls partner database views into Reach without losing or regressing a row')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  const word = argv[0] === undefined ? undefined : (ALIASES[argv[0]] ?? argv[0]);
  const loaders = word !== undefined && COMMANDS[word] ? [COMMANDS[word]] : Object.values(COMMANDS);
  for (const register of await Promise.all(loaders.map((load) => load()))) register(program);
  return program;
}

/** Runs the CLI and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    await (await buildProgram(argv)).parseAsync(argv, { from: 'user' });
    // A command that completed but found failures (a failed stream) sets the exit code itself.
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    return reportError(error);
  }
}
