import type { Command } from 'commander';
import { MASTER_KEY_ENV, parseMasterKeys } from '../../secrets/master-key.ts';
import { parseBinding } from '../../secrets/secret-binding.ts';
import type * as SecretStore from '../../secrets/secret-store.ts';
import { withStore } from '../context.ts';
import { printJson, printTable } from '../output.ts';

/** The encrypted store's functions, loaded when a subcommand runs. */
const secretStore = (): Promise<typeof SecretStore> => import('../../secrets/secret-store.ts');

/** Reads all of stdin; one trailing newline (from `echo` or a file) is not part of the value. */
async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('type the value, then Enter and Ctrl-D (better: pipe it in)\n');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

const FOR_HELP = 'where it may be sent: the source it authenticates to, <dialect>://<user>@<host>:<port> ' +
  '(e.g. postgres://rp_ro@db.glow.example:5432), or for a Reach token the Reach API origin (https://reach.example)';

/** `secret set|bind|list|rm|rotate-key`: the encrypted store behind `${secret:NAME}`. */
export function registerSecretCommands(program: Command): void {
  const secret = program.command('secret').description(`Secrets for \${secret:NAME} references, encrypted with ${MASTER_KEY_ENV}`);
  secret
    .command('set')
    .description('Store a secret bound to where it may be sent; the value is read from stdin, never from the command line')
    .argument('<name>', 'secret name (letters, digits, _ . -), <tenant>/NAME for a tenant\'s own')
    // Required: a connector's author chooses its host, so only the operator's binding says where a password may go.
    .requiredOption('--for <destination>', FOR_HELP)
    .action(async (name: string, opts: { for: string }) => {
      const binding = parseBinding(opts.for);
      const keys = parseMasterKeys(process.env[MASTER_KEY_ENV]);
      const value = await readStdin();
      const { setSecret } = await secretStore();
      const outcome = await withStore((store) => setSecret(store.db, keys, name, value, binding));
      process.stdout.write(`${outcome} secret ${name} for ${binding} (key ${keys.currentId})\n`);
    });
  secret
    .command('bind')
    .description('Bind a stored secret to another destination (or one stored unbound, before bindings existed), keeping its value')
    .argument('<name>')
    .requiredOption('--for <destination>', FOR_HELP)
    .action(async (name: string, opts: { for: string }) => {
      const binding = parseBinding(opts.for);
      const keys = parseMasterKeys(process.env[MASTER_KEY_ENV]);
      const { bindSecret } = await secretStore();
      await withStore((store) => bindSecret(store.db, keys, name, binding));
      process.stdout.write(`bound secret ${name} to ${binding}\n`);
    });
  secret
    .command('list')
    .description('List stored secrets: names, where each may be sent, key ids, update times (never values)')
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean }) => {
      const { listSecrets } = await secretStore();
      const rows = (await withStore((store) => listSecrets(store.db)))
        .map((s) => ({ name: s.name, bound_to: s.binding, key_id: s.keyId, updated_at: s.updatedAt.toISOString() }));
      if (opts.json) printJson(rows);
      else printTable(rows.map((r) => ({ ...r, bound_to: r.bound_to ?? '(unbound)' })), ['name', 'bound_to', 'key_id', 'updated_at']);
    });
  secret
    .command('rm')
    .description('Delete a stored secret')
    .argument('<name>')
    .action(async (name: string) => {
      const { removeSecret } = await secretStore();
      await withStore((store) => removeSecret(store.db, name));
      process.stdout.write(`removed secret ${name}\n`);
    });
  secret
    .command('rotate-key')
    .description(`Re-encrypt every secret with the first key of ${MASTER_KEY_ENV} (list the old key after it until this is done)`)
    .action(async () => {
      const keys = parseMasterKeys(process.env[MASTER_KEY_ENV]);
      const { rotateSecrets } = await secretStore();
      const result = await withStore((store) => rotateSecrets(store.db, keys));
      process.stdout.write(`re-encrypted ${result.reencrypted.length} secret(s) with key ${keys.currentId}` +
        `; ${result.alreadyCurrent} already used it\n`);
      if (keys.keys.size > 1) process.stdout.write(`every secret now uses ${keys.currentId}: the other keys can be removed from ${MASTER_KEY_ENV}\n`);
    });
}
