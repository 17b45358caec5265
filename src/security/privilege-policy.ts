/**
 * The second half of "read-only, twice": sessions are read-only whatever the credential
 * may do, and `source.require_read_only_user: true` also refuses a credential that could
 * write, so a partner's mistake in granting is caught before the first read.
 */
import { PermanentError } from '../errors.ts';
import type { PrivilegeReport } from '../sources/source.ts';

/** Throws RP_SOURCE_WRITABLE listing the privileges when the report shows any beyond SELECT. */
export function assertReadOnlyCredential(report: PrivilegeReport, source: string): void {
  if (report.writePrivileges.length === 0) return;
  throw new PermanentError(
    'RP_SOURCE_WRITABLE',
    `source.require_read_only_user is set and the user of ${source} holds write privileges: ${report.writePrivileges.join(', ')}`,
  );
}
