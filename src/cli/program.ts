/** The `reach-puller` program: every command registered on one commander tree. Exit codes: 0 ok, 1 failure, 2 usage or config error. */
import { Command, CommanderError } from 'commander';
import { registerMigrate } from './commands/migrate.ts';
import { registerApply } from './commands/apply.ts';
import { registerConnectorsCommands } from './commands/connectors.ts';
import { registerPull } from './commands/pull.ts';
import { registerBackfill } from './commands/backfill.ts';
import { registerReset } from './commands/reset.ts';
import { registerResources } from './commands/resources.ts';
import { registerDev } from './commands/dev.ts';
import { registerTest } from './commands/test-connector.ts';
import { registerSecretCommands } from './commands/secret.ts';
import { registerServe } from './commands/serve.ts';
import { registerStatus } from './commands/status.ts';
import { registerRuns } from './commands/runs.ts';
import { registerUnpark } from './commands/unpark.ts';
import { registerRejects } from './commands/rejects.ts';
import { registerRetryRejects } from './commands/retry-rejects.ts';
import { registerReconcile } from './commands/reconcile.ts';
import { registerPreview } from './commands/preview.ts';
import { registerDemo } from './commands/demo.ts';
import { EXIT, reportError } from './output.ts';

/** Builds the program with every command. */
export function buildProgram(): Command {
  const program = new Command('reach-puller')
    .description('Pulls partner database views into Reach without losing or regressing a row')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  registerMigrate(program);
  registerApply(program);
  registerConnectorsCommands(program);
  registerPull(program);
  registerBackfill(program);
  registerReset(program);
  registerResources(program);
  registerTest(program);
  registerSecretCommands(program);
  registerDev(program);
  registerServe(program);
  registerStatus(program);
  registerRuns(program);
  registerUnpark(program);
  registerRejects(program);
  registerRetryRejects(program);
  registerReconcile(program);
  registerPreview(program);
  registerDemo(program);
  return program;
}

/** Runs the CLI and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    // A command that completed but found failures (a failed stream) sets the exit code itself.
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    return reportError(error);
  }
}
