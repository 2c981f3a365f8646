import {
  AddressRange,
  cidrWithin,
  classifyAddress,
  embeddedIpv4,
  formatIp,
  inCidr,
  METADATA_ADDRESSES,
  parseCidr,
  parseIp,
  type Cidr,
  type IpAddress,
} from './address';

/**
 * Where HTTP jobs may connect. Public addresses always; link-local and cloud metadata addresses
 * never; every other range (loopback, private, unspecified, multicast, broadcast, reserved) only
 * when an allowed CIDR contains the address or an allowed host name is the one being connected.
 */
export interface EgressPolicy {
  /** Ranges whose addresses are allowed (except link-local and metadata ones). */
  readonly cidrs: readonly Cidr[];
  /**
   * Host names (lower case, no trailing dot) that may resolve to non-public addresses; an
   * entry `*.example.com` allows every name under example.com.
   */
  readonly hosts: readonly string[];
}

/** The default: public addresses only. */
export const PUBLIC_ONLY: EgressPolicy = { cidrs: [], hosts: [] };

/** Ranges no allow-list can open. */
const NEVER: ReadonlySet<AddressRange> = new Set([AddressRange.linkLocal, AddressRange.metadata]);

const LOOPBACK_CIDRS: readonly Cidr[] = [parseCidr('127.0.0.0/8')!, parseCidr('::1/128')!];
const NEVER_CIDRS: readonly Cidr[] = [parseCidr('169.254.0.0/16')!, parseCidr('fe80::/10')!, ...METADATA_ADDRESSES];

/** The policy plus loopback: what the embedded default (`npm start`) runs with. */
export function withLoopback(policy: EgressPolicy): EgressPolicy {
  return { ...policy, cidrs: [...policy.cidrs, ...LOOPBACK_CIDRS] };
}

/** Thrown by {@link parseAllowList}: which entry (1-based) and why; the text is not echoed. */
export class AllowListError extends Error {
  override readonly name = 'AllowListError';
  constructor(
    readonly entry: number,
    readonly problem: string,
  ) {
    super(`entry ${entry} ${problem}`);
  }
}

const HOST_NAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * Parses `SUNDIAL_HTTP_ALLOW`: CIDRs (`10.0.0.0/8`, `fd00::/8`, a bare address) and host names
 * (`billing.internal`, `*.corp.example.com`), separated by commas.
 * @throws AllowListError for a malformed entry, or one wholly inside a range never allowed.
 */
export function parseAllowList(text: string | undefined): EgressPolicy {
  const cidrs: Cidr[] = [];
  const hosts: string[] = [];
  (text ?? '').split(',').forEach((raw, i) => {
    const entry = raw.trim().toLowerCase();
    if (entry === '') return;
    const cidr = parseCidr(entry);
    if (cidr !== undefined) {
      if (NEVER_CIDRS.some((never) => cidrWithin(cidr, never))) {
        throw new AllowListError(i + 1, 'is a link-local or cloud metadata range, which is never allowed');
      }
      cidrs.push(cidr);
      return;
    }
    const host = entry.replace(/\.$/, '');
    if (!HOST_NAME.test(host) || /^[\d.]+$/.test(host) || host.includes(':')) {
      throw new AllowListError(
        i + 1,
        'must be a CIDR (10.0.0.0/8, fd00::/8), an IP address or a host name (api.internal, *.corp.example.com)',
      );
    }
    hosts.push(host);
  });
  return { cidrs, hosts };
}

/** What the policy says about one address. */
export type EgressDecision =
  | { readonly allowed: true; readonly range: AddressRange }
  | { readonly allowed: false; readonly range: AddressRange; readonly address: string; readonly reason: string };

function normalizeHost(host: string): string {
  return host.toLowerCase().replace(/\.$/, '');
}

function hostAllowed(policy: EgressPolicy, host: string | undefined): boolean {
  if (host === undefined) return false;
  const h = normalizeHost(host);
  return policy.hosts.some((entry) => (entry.startsWith('*.') ? h.endsWith(entry.slice(1)) : h === entry));
}

/**
 * Decides on one address, reached under `host` (the name in the URL; undefined for a literal).
 * Link-local and metadata addresses are refused whatever the policy says.
 */
export function checkAddress(policy: EgressPolicy, ip: IpAddress, host?: string): EgressDecision {
  const range = classifyAddress(ip);
  if (range === AddressRange.public) return { allowed: true, range };
  const v4 = embeddedIpv4(ip);
  const address = v4 === undefined ? formatIp(ip) : `${formatIp(ip)} (${formatIp(v4)})`;
  if (NEVER.has(range)) return { allowed: false, range, address, reason: `${range} addresses are never allowed` };
  // An IPv6 address carrying an IPv4 one reaches that address: an IPv4 range allows it too.
  const matches = (c: Cidr) => inCidr(ip, c) || (v4 !== undefined && inCidr(v4, c));
  if (policy.cidrs.some(matches) || hostAllowed(policy, host)) return { allowed: true, range };
  return {
    allowed: false,
    range,
    address,
    reason: `${range} addresses are refused unless SUNDIAL_HTTP_ALLOW allows them`,
  };
}

/** A refusal as a sentence for a person: which address, which range, why. */
export function refusalMessage(decision: Extract<EgressDecision, { allowed: false }>): string {
  return `refused by the egress policy: ${decision.address} is in the ${decision.range} range, and ${decision.reason}`;
}

/**
 * Names that resolve to loopback without asking DNS (RFC 6761): refused as early as literals.
 */
function isLoopbackName(host: string): boolean {
  const h = normalizeHost(host);
  return h === 'localhost' || h.endsWith('.localhost');
}

/**
 * What can be decided from a URL alone, before any DNS: its host is an IP literal (in any form
 * the URL parser accepts: decimal, hex, octal, IPv4-mapped IPv6) or `localhost`. Undefined for
 * other host names, which are checked when the job connects. Assumes an absolute http(s) URL.
 */
export function checkUrlHost(policy: EgressPolicy, url: string): EgressDecision | undefined {
  let hostname: string;
  try {
    hostname = new URL(url).hostname;
  } catch {
    return undefined; // not a URL: the schema says so
  }
  const ip = parseIp(hostname);
  if (ip !== undefined) return checkAddress(policy, ip);
  if (isLoopbackName(hostname)) {
    if (hostAllowed(policy, hostname) || policy.cidrs.some((c) => inCidr(parseIp('127.0.0.1')!, c)))
      return { allowed: true, range: AddressRange.loopback };
    return {
      allowed: false,
      range: AddressRange.loopback,
      address: hostname,
      reason: 'loopback addresses are refused unless SUNDIAL_HTTP_ALLOW allows them',
    };
  }
  return undefined;
}
