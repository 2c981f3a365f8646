import { isIPv4, isIPv6 } from 'node:net';

/**
 * IP addresses and CIDR ranges as numbers, and what range an address belongs to. Pure: no DNS,
 * no sockets. IPv4 is 32 bits, IPv6 128 bits, both as bigint so one comparison serves both.
 */

export interface IpAddress {
  readonly version: 4 | 6;
  readonly value: bigint;
}

export interface Cidr {
  readonly version: 4 | 6;
  /** The network address (host bits cleared). */
  readonly base: bigint;
  /** Prefix length in bits: 0-32 for IPv4, 0-128 for IPv6. */
  readonly prefix: number;
}

const BITS = { 4: 32, 6: 128 } as const;

function parseIpv4(text: string): bigint {
  return text.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function parseIpv6(text: string): bigint {
  let s = text;
  // An embedded dotted IPv4 tail (`::ffff:1.2.3.4`) is two groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (dotted !== null) {
    const v4 = parseIpv4(dotted[1]!);
    s = `${s.slice(0, dotted.index)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? (s.split('::') as [string, string]) : [s, undefined];
  const groups = (g: string) => (g === '' ? [] : g.split(':'));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all =
    tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return all.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/**
 * Parses an IP address in canonical text: dotted-quad IPv4, or IPv6 (brackets and a `%zone`
 * suffix are stripped). Undefined for anything else, host names included. Disguised IPv4
 * (`2852039166`, `0xa9fea9fe`, `0251.0376.0251.0376`) is not parsed here: the WHATWG URL parser
 * has already turned it into dotted-quad in `URL.hostname`, and getaddrinfo returns canonical text.
 */
export function parseIp(text: string): IpAddress | undefined {
  let s = text.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (isIPv4(s)) return { version: 4, value: parseIpv4(s) };
  if (isIPv6(s)) return { version: 6, value: parseIpv6(s.toLowerCase()) };
  return undefined;
}

/** Parses `a.b.c.d/n` or `x::y/n`; a bare address is a /32 or /128. Undefined if malformed. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const ip = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (ip === undefined) return undefined;
  const bits = BITS[ip.version];
  const prefixText = slash < 0 ? String(bits) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > bits) return undefined;
  return { version: ip.version, base: ip.value & mask(bits, prefix), prefix };
}

function mask(bits: number, prefix: number): bigint {
  return ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - prefix)) - 1n);
}

/** True when `ip` lies in `cidr` (never across IP versions: classify embedded IPv4 first). */
export function inCidr(ip: IpAddress, cidr: Cidr): boolean {
  return ip.version === cidr.version && (ip.value & mask(BITS[ip.version], cidr.prefix)) === cidr.base;
}

/** True when every address of `inner` is in `outer`. */
export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return (
    inner.version === outer.version &&
    inner.prefix >= outer.prefix &&
    inCidr({ version: inner.version, value: inner.base }, outer)
  );
}

/** The address as text: dotted-quad, or IPv6 with its longest run of zero groups as `::` (RFC 5952). */
export function formatIp(ip: IpAddress): string {
  if (ip.version === 4) return [24n, 16n, 8n, 0n].map((s) => String((ip.value >> s) & 0xffn)).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => ((ip.value >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  let best = { at: -1, length: 1 };
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best.length) best = { at: i, length: j - i };
  }
  if (best.at < 0) return groups.join(':');
  return `${groups.slice(0, best.at).join(':')}::${groups.slice(best.at + best.length).join(':')}`;
}

/** The ranges an address can fall in, as the egress policy treats them. */
export const AddressRange = {
  /** A cloud provider's instance metadata or host endpoint (credentials): never allowed. */
  metadata: 'metadata',
  /** 169.254.0.0/16, fe80::/10: never allowed (metadata services live here). */
  linkLocal: 'link-local',
  /** 127.0.0.0/8, ::1. */
  loopback: 'loopback',
  /** 10/8, 172.16/12, 192.168/16, 100.64/10 (CGNAT), fc00::/7 (ULA), fec0::/10. */
  private: 'private',
  /** 0.0.0.0/8 and :: (Linux connects 0.0.0.0 to the local host). */
  unspecified: 'unspecified',
  /** 224.0.0.0/4, ff00::/8. */
  multicast: 'multicast',
  /** 255.255.255.255. */
  broadcast: 'broadcast',
  /** Documentation, benchmarking, IETF, future-use and other special-purpose ranges. */
  reserved: 'reserved',
  /** Everything else: the public internet. */
  public: 'public',
} as const;
export type AddressRange = (typeof AddressRange)[keyof typeof AddressRange];

const cidrs = (list: string[]): Cidr[] => list.map((c) => parseCidr(c)!);

/**
 * Known metadata endpoints. Most sit in link-local space anyway; these are named because some
 * do not (Alibaba's is in CGNAT space, AWS's IPv6 one in ULA space, Azure's WireServer is a
 * public address), so allowing a private range must not allow them.
 */
export const METADATA_ADDRESSES: readonly Cidr[] = cidrs([
  '169.254.169.254/32', // AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle...
  '169.254.170.2/32', // AWS ECS task metadata and credentials
  '169.254.169.253/32', // AWS DNS
  '168.63.129.16/32', // Azure WireServer
  '100.100.100.200/32', // Alibaba Cloud
  '192.0.0.192/32', // Oracle Cloud (legacy)
  'fd00:ec2::254/128', // AWS IMDS over IPv6
  'fd00:ec2::23/128', // AWS DNS over IPv6
  'fd20:ce::254/128', // GCP metadata over IPv6
]);

/** Ranges checked in order: the first match decides. Metadata is checked before all of them. */
const V4_RANGES: ReadonlyArray<readonly [Cidr, AddressRange]> = [
  ['0.0.0.0/8', AddressRange.unspecified],
  ['127.0.0.0/8', AddressRange.loopback],
  ['169.254.0.0/16', AddressRange.linkLocal],
  ['10.0.0.0/8', AddressRange.private],
  ['172.16.0.0/12', AddressRange.private],
  ['192.168.0.0/16', AddressRange.private],
  ['100.64.0.0/10', AddressRange.private],
  ['192.0.0.0/24', AddressRange.reserved],
  ['192.0.2.0/24', AddressRange.reserved],
  ['192.88.99.0/24', AddressRange.reserved],
  ['198.18.0.0/15', AddressRange.reserved],
  ['198.51.100.0/24', AddressRange.reserved],
  ['203.0.113.0/24', AddressRange.reserved],
  ['224.0.0.0/4', AddressRange.multicast],
  ['255.255.255.255/32', AddressRange.broadcast],
  ['240.0.0.0/4', AddressRange.reserved],
].map(([c, r]) => [parseCidr(c as string)!, r as AddressRange] as const);

const V6_RANGES: ReadonlyArray<readonly [Cidr, AddressRange]> = [
  ['::/128', AddressRange.unspecified],
  ['::1/128', AddressRange.loopback],
  ['fe80::/10', AddressRange.linkLocal],
  ['fc00::/7', AddressRange.private],
  ['fec0::/10', AddressRange.private],
  ['64:ff9b:1::/48', AddressRange.private],
  ['ff00::/8', AddressRange.multicast],
  ['2001::/32', AddressRange.reserved], // Teredo: the IPv4 inside is obfuscated
  ['2001:db8::/32', AddressRange.reserved],
  ['100::/64', AddressRange.reserved],
  ['2000::/3', AddressRange.public],
].map(([c, r]) => [parseCidr(c as string)!, r as AddressRange] as const);

/** IPv6 ranges that carry an IPv4 address, and where its 32 bits sit (shift from the right). */
const V4_CARRIERS: ReadonlyArray<readonly [Cidr, bigint]> = [
  [parseCidr('::ffff:0:0/96')!, 0n], // IPv4-mapped
  [parseCidr('::/96')!, 0n], // IPv4-compatible (deprecated)
  [parseCidr('64:ff9b::/96')!, 0n], // NAT64
  [parseCidr('2002::/16')!, 80n], // 6to4
];

/**
 * The IPv4 address an IPv6 address carries (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible,
 * NAT64 `64:ff9b::/96`, 6to4 `2002::/16`): a connection to it reaches that IPv4 address.
 */
export function embeddedIpv4(ip: IpAddress): IpAddress | undefined {
  if (ip.version !== 6 || ip.value <= 1n) return undefined; // :: and ::1 are themselves
  const carrier = V4_CARRIERS.find(([c]) => inCidr(ip, c));
  return carrier === undefined ? undefined : { version: 4, value: (ip.value >> carrier[1]) & 0xffffffffn };
}

/**
 * The range an address falls in. An IPv6 address carrying an IPv4 one is classified as that
 * IPv4 address; IPv6 outside 2000::/3 and the named ranges is reserved.
 */
export function classifyAddress(ip: IpAddress): AddressRange {
  const v4 = embeddedIpv4(ip);
  if (v4 !== undefined) return classifyAddress(v4);
  if (METADATA_ADDRESSES.some((c) => inCidr(ip, c))) return AddressRange.metadata;
  const ranges = ip.version === 4 ? V4_RANGES : V6_RANGES;
  const hit = ranges.find(([c]) => inCidr(ip, c));
  if (hit !== undefined) return hit[1];
  return ip.version === 4 ? AddressRange.public : AddressRange.reserved;
}
