/**
 * The network policy: link-local and metadata addresses are refused always, loopback and
 * private ranges unless allowed; at apply time and before every connection.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConnectors } from '../../src/config/load-connectors.ts';
import { openConnectorSource } from '../../src/engine/connector-runtime.ts';
import { ConfigError, PermanentError, PullerError } from '../../src/errors.ts';
import { assertHostAllowed, connectorHostProblems, networkPolicy, refusalOf } from '../../src/security/network-policy.ts';
import { openPoolCount } from '../../src/sources/source-pools.ts';
import { parseConnector } from '../../src/config/load-connectors.ts';

const none = networkPolicy({});
const loopback = networkPolicy({ REACH_PULLER_ALLOW_PRIVATE_NETWORKS: '127.0.0.0/8,::1/128' });
const everything = networkPolicy({ REACH_PULLER_ALLOW_PRIVATE_NETWORKS: '0.0.0.0/0,::/0' });

/** A minimal connector file for a host. */
const yaml = (host: string) => `tenant: t1
source:
  dialect: postgres
  host: ${host}
  database: shop
  user: reader
  password: \${env:PW}
streams:
  - { name: s, view: v, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: id } }
`;

describe('network policy', () => {
  it('refuses link-local and cloud metadata addresses whatever the allow list says', () => {
    for (const address of ['169.254.169.254', '169.254.10.1', 'fe80::1', 'fd00:ec2::254', '100.100.100.200',
      '::ffff:169.254.169.254', '0.0.0.0', '::', '224.0.0.1', 'ff02::1',
      // IPv4 carried in IPv6 (found in review): NAT64 and 6to4 reach the metadata service too.
      '64:ff9b::a9fe:a9fe', '64:ff9b::169.254.169.254', '2002:a9fe:a9fe::1', '::ffff:a9fe:a9fe']) {
      expect(refusalOf(address, everything), address).toMatch(/never allowed/);
    }
  });

  it('refuses loopback and private ranges unless the allow list covers them', () => {
    for (const address of ['127.0.0.1', '::1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '100.64.0.1', 'fd12::1', '::ffff:10.0.0.1',
      '64:ff9b::a00:1', '2002:a00:1::', '::ffff:7f00:1', '::7f00:1', '64:ff9b:1::a00:1']) {
      expect(refusalOf(address, none), address).toMatch(/not in REACH_PULLER_ALLOW_PRIVATE_NETWORKS/);
      expect(refusalOf(address, everything), address).toBeUndefined();
    }
    expect(refusalOf('127.0.0.1', loopback)).toBeUndefined();
    expect(refusalOf('10.0.0.1', loopback)).toMatch(/private/);
  });

  it('lets public addresses through', () => {
    for (const address of ['8.8.8.8', '172.32.0.1', '2606:4700::1111', '100.128.0.1']) expect(refusalOf(address, none), address).toBeUndefined();
  });

  it('refuses a malformed allow list', () => {
    expect(() => networkPolicy({ REACH_PULLER_ALLOW_PRIVATE_NETWORKS: '10.0.0.0/8,bogus,10.0.0.0/33' })).toThrow(ConfigError);
  });

  it('resolves names: localhost is loopback', async () => {
    await expect(assertHostAllowed('localhost', none)).rejects.toMatchObject({ code: 'RP_NETWORK_DENIED' });
    await expect(assertHostAllowed('localhost', loopback)).resolves.toBeUndefined();
    await expect(assertHostAllowed('169.254.169.254', everything)).rejects.toBeInstanceOf(PermanentError);
    await expect(assertHostAllowed('no-such-host.invalid', none)).rejects.toMatchObject({ code: 'RP_SOURCE_UNREACHABLE' });
  });

  it('apply refuses a metadata host and warns about a host that does not resolve yet', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rp-sec-net-'));
    writeFileSync(path.join(dir, 'metadata.yaml'), yaml('169.254.169.254'));
    writeFileSync(path.join(dir, 'later.yaml'), yaml('db.not-yet.invalid'));
    writeFileSync(path.join(dir, 'public.yaml'), yaml('8.8.8.8'));
    const result = await connectorHostProblems(await loadConnectors([dir]), none);
    expect(result.problems).toEqual([expect.objectContaining({ file: path.join(dir, 'metadata.yaml'), path: 'source.host' })]);
    expect(result.problems[0]!.message).toMatch(/169\.254\.169\.254 is cloud metadata service, which is never allowed/);
    expect(result.warnings).toEqual([expect.stringMatching(/later\.yaml: source\.host db\.not-yet\.invalid does not resolve yet/)]);
  });

  it('refuses before any connection is opened', async () => {
    const { connector } = parseConnector('m.yaml', yaml('169.254.169.254'));
    const pools = openPoolCount();
    const error = await openConnectorSource(connector!.config, { env: { PW: 'x-password', REACH_PULLER_CONNECTOR_ENV: 'PW', REACH_PULLER_ALLOW_PRIVATE_NETWORKS: '0.0.0.0/0' } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PullerError);
    expect((error as PullerError).code).toBe('RP_NETWORK_DENIED');
    expect(openPoolCount()).toBe(pools);
  });
});
