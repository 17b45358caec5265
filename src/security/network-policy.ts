/**
 * Where a connector may point: a source host is resolved (every address) and refused when
 * any address is link-local or a cloud metadata service (always), or loopback / private /
 * shared (CGNAT) / unique-local unless REACH_PULLER_ALLOW_PRIVATE_NETWORKS allows its range.
 * So a connector file cannot aim the puller at Reach's own internal services.
 */
import { lookup } from 'node:dns/promises';
import net, { BlockList, isIP } from 'node:net';
import { ConfigError, PermanentError, TransientError, type ConfigProblem } from '../errors.ts';

export const ALLOW_PRIVATE_ENV = 'REACH_PULLER_ALLOW_PRIVATE_NETWORKS';

type Family = 'ipv4' | 'ipv6';
type Range = [network: string, prefix: number, family: Family, label: string];

/** Never allowed, whatever the allow list says. */
const ALWAYS_DENIED: Range[] = [
  ['169.254.169.254', 32, 'ipv4', 'cloud metadata service'],
  ['fd00:ec2::254', 128, 'ipv6', 'cloud metadata service (AWS IPv6)'],
  ['100.100.100.200', 32, 'ipv4', 'cloud metadata service (Alibaba)'],
  ['169.254.0.0', 16, 'ipv4', 'link-local'],
  ['fe80::', 10, 'ipv6', 'link-local'],
  ['0.0.0.0', 8, 'ipv4', 'unspecified ("this network")'],
  ['::', 128, 'ipv6', 'unspecified'],
  ['224.0.0.0', 4, 'ipv4', 'multicast'],
  ['255.255.255.255', 32, 'ipv4', 'broadcast'],
  ['ff00::', 8, 'ipv6', 'multicast'],
];

/** Allowed only when the allow list covers the address. */
const PRIVATE: Range[] = [
  ['127.0.0.0', 8, 'ipv4', 'loopback'],
  ['::1', 128, 'ipv6', 'loopback'],
  ['10.0.0.0', 8, 'ipv4', 'private'],
  ['172.16.0.0', 12, 'ipv4', 'private'],
  ['192.168.0.0', 16, 'ipv4', 'private'],
  ['100.64.0.0', 10, 'ipv4', 'shared address space (CGNAT)'],
  ['fc00::', 7, 'ipv6', 'unique-local'],
  // Local-use NAT64 (RFC 8215) embeds IPv4 at a prefix the network chose: judge it as private.
  ['64:ff9b:1::', 48, 'ipv6', 'local-use NAT64'],
];

export interface NetworkPolicy {
  allow: BlockList;
  /** The allow list as configured, for messages. */
  allowText: string;
}

/** Parses the allow list (CIDRs separated by commas) from the environment. */
export function networkPolicy(env: NodeJS.ProcessEnv = process.env): NetworkPolicy {
  const allow = new BlockList();
  const text = env[ALLOW_PRIVATE_ENV]?.trim() ?? '';
  const problems: ConfigProblem[] = [];
  for (const entry of text ? text.split(',').map((e) => e.trim()) : []) {
    const [network = '', prefixText] = entry.split('/');
    const family = isIP(network);
    const prefix = prefixText === undefined ? (family === 6 ? 128 : 32) : Number(prefixText);
    if (!family || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) {
      problems.push({ path: ALLOW_PRIVATE_ENV, message: `"${entry}" is not a CIDR like 10.0.0.0/8 or fd12::/16` });
      continue;
    }
    allow.addSubnet(network, prefix, family === 6 ? 'ipv6' : 'ipv4');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { allow, allowText: text || '(empty)' };
}

/** A lookup of the first range (in list order) that holds an address, by its label. */
function rangesOf(ranges: Range[]): (address: string, family: Family) => string | undefined {
  const lists = ranges.map(([net, prefix, family, label]) => {
    const list = new BlockList();
    list.addSubnet(net, prefix, family);
    return { list, label };
  });
  return (address, family) => lists.find((l) => l.list.check(address, family))?.label;
}

const denied = rangesOf(ALWAYS_DENIED);
const privateRanges = rangesOf(PRIVATE);

/**
 * The IPv4 address an IPv6 address carries to an IPv4 host, which the IPv4 rules then judge:
 * mapped (::ffff:0:0/96), IPv4-compatible (::/96), NAT64 (64:ff9b::/96, RFC 6052) and 6to4
 * (2002::/16). Otherwise `64:ff9b::a9fe:a9fe` would reach the metadata service through a
 * NAT64 gateway while the IPv6 rules saw a public address.
 */
function normalise(address: string): [string, Family] {
  if (isIP(address) !== 6) return [address, 'ipv4'];
  const g = ipv6Groups(address);
  const ipv4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zeros(0, 5) && (g[5] === 0xffff || (g[5] === 0 && (g[6] !== 0 || g[7]! > 1)))) return [ipv4(g[6]!, g[7]!), 'ipv4'];
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return [ipv4(g[6]!, g[7]!), 'ipv4'];
  if (g[0] === 0x2002) return [ipv4(g[1]!, g[2]!), 'ipv4'];
  return [address, 'ipv6'];
}

/** The eight 16-bit groups of an IPv6 address (a trailing dotted quad included). */
function ipv6Groups(address: string): number[] {
  let text = address.toLowerCase().replace(/%.*$/, '');
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const part = (t: string | undefined) => (t ? t.split(':').map((x) => parseInt(x, 16)) : []);
  const front = part(head);
  const back = part(tail);
  return tail === undefined ? front : [...front, ...Array<number>(8 - front.length - back.length).fill(0), ...back];
}

/** Why an address is refused, or undefined when it may be used. */
export function refusalOf(address: string, policy: NetworkPolicy): string | undefined {
  const [a, family] = normalise(address);
  const always = denied(a, family);
  if (always) return `${address} is ${always}, which is never allowed`;
  const priv = privateRanges(a, family);
  if (priv && !policy.allow.check(a, family)) return `${address} is ${priv}, not in ${ALLOW_PRIVATE_ENV}=${policy.allowText}`;
  return undefined;
}

/** Every address a host name resolves to (an IP literal resolves to itself). */
export async function resolveHost(host: string): Promise<string[]> {
  return (await lookup(host, { all: true, verbatim: true })).map((r) => r.address);
}

/**
 * Refuses a source host before any connection is made: PermanentError RP_NETWORK_DENIED
 * naming the refused address, TransientError RP_SOURCE_UNREACHABLE when it does not resolve.
 * The driver resolves the name again; checking at every connect narrows (does not close)
 * the window for a DNS answer that changes in between.
 */
export async function assertHostAllowed(host: string, policy: NetworkPolicy, what = 'source host'): Promise<void> {
  await allowedAddresses(host, policy, what);
}

/** The addresses of `host`, from one lookup, each passed by the policy (or the refusal of assertHostAllowed). */
async function allowedAddresses(host: string, policy: NetworkPolicy, what: string): Promise<string[]> {
  let addresses: string[];
  try {
    addresses = await resolveHost(host);
  } catch (error) {
    throw new TransientError('RP_SOURCE_UNREACHABLE', `${what} ${host} does not resolve`, { cause: error });
  }
  const refusals = addresses.map((a) => refusalOf(a, policy)).filter((r) => r !== undefined);
  if (refusals.length > 0) {
    throw new PermanentError('RP_NETWORK_DENIED', `${what} ${host} refused by the network policy: ${refusals.join('; ')}`);
  }
  return addresses;
}

/**
 * The apply-time check of connector files: a refused host is a problem (nothing is
 * registered); a host that does not resolve yet is a warning, checked again at connect.
 */
export async function connectorHostProblems(
  connectors: { file: string; config: { source: { host: string } } }[],
  policy: NetworkPolicy,
): Promise<{ problems: ConfigProblem[]; warnings: string[] }> {
  const problems: ConfigProblem[] = [];
  const warnings: string[] = [];
  for (const { file, config } of connectors) {
    const { host } = config.source;
    try {
      await assertHostAllowed(host, policy);
    } catch (error) {
      if (error instanceof TransientError) warnings.push(`${file}: source.host ${host} does not resolve yet; it is checked again at connect`);
      else problems.push({ file, path: 'source.host', message: (error as Error).message });
    }
  }
  return { problems, warnings };
}

/**
 * Opens a TCP connection to a host only if every address it resolves to passes the policy,
 * to the address that was checked (no second lookup that could answer otherwise). SQL
 * Server's driver connects through it, so a routing redirect (read intent on an
 * availability group) to a host no one checked gets no login.
 */
export async function connectAllowed(
  target: { host: string; port: number; localAddress?: string },
  policy: NetworkPolicy,
  what: string,
  signal?: AbortSignal,
): Promise<net.Socket> {
  // The address checked is the address connected to: a second lookup could answer otherwise.
  const [address] = await allowedAddresses(target.host, policy, what);
  signal?.throwIfAborted();
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address, port: target.port, localAddress: target.localAddress });
    const onAbort = () => socket.destroy(signal?.reason instanceof Error ? signal.reason : new Error('connect aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      signal?.removeEventListener('abort', onAbort);
      resolve(socket);
    });
    socket.once('error', (error) => {
      signal?.removeEventListener('abort', onAbort);
      reject(error);
    });
  });
}
