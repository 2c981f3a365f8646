import assert from 'node:assert/strict';
import { lookup as dnsLookup } from 'node:dns';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/env';
import { classifyAddress, formatIp, parseCidr, parseIp, type AddressRange } from '../../src/egress/address';
import { EgressDeniedError, guardedLookup, type Resolver } from '../../src/egress/http-client';
import {
  AllowListError,
  checkAddress,
  checkUrlHost,
  parseAllowList,
  PUBLIC_ONLY,
  withLoopback,
  type EgressPolicy,
} from '../../src/egress/policy';
import { defineJob } from '../../src/jobs/define';
import { JobDefinitionError } from '../../src/jobs/errors';
import { JobRegistry } from '../../src/jobs/registry';

const ip = (text: string) => {
  const parsed = parseIp(text);
  assert.ok(parsed, `${text} parses`);
  return parsed;
};

describe('address classification', () => {
  const table: Array<[string, AddressRange]> = [
    ['8.8.8.8', 'public'],
    ['1.1.1.1', 'public'],
    ['169.254.169.254', 'metadata'],
    ['169.254.170.2', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['168.63.129.16', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['fd20:ce::254', 'metadata'],
    ['169.254.1.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['febf:ffff::1', 'link-local'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', 'public'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['100.127.255.255', 'private'],
    ['100.128.0.1', 'public'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['2001::1', 'reserved'],
    ['2606:4700:4700::1111', 'public'],
    ['4000::1', 'reserved'],
    // IPv6 that carries IPv4: classified as the IPv4 address it reaches.
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:a9fe:a9fe', 'metadata'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:8.8.8.8', 'public'],
    ['::127.0.0.1', 'loopback'],
    ['64:ff9b::a9fe:a9fe', 'metadata'],
    ['2002:a9fe:a9fe::1', 'metadata'],
    ['2002:7f00:1::', 'loopback'],
    ['fe80::1%eth0', 'link-local'],
    ['[::1]', 'loopback'],
  ];
  for (const [address, range] of table) {
    it(`${address} is ${range}`, () => assert.equal(classifyAddress(ip(address)), range));
  }

  it('parses only canonical addresses: names and disguised IPv4 are not addresses here', () => {
    for (const text of [
      'example.com',
      '2852039166',
      '0xa9fea9fe',
      '0251.0376.0251.0376',
      '127.1',
      '1.2.3.4.5',
      '',
      '::g',
    ]) {
      assert.equal(parseIp(text), undefined, text);
    }
  });

  it('formats IPv6 compressed and round-trips', () => {
    for (const text of ['::', '::1', 'fe80::1', '2001:db8::1', '1:0:0:2::3', '1:2:3:4:5:6:7:8'])
      assert.equal(formatIp(ip(text)), text);
    assert.equal(formatIp(ip('10.20.30.40')), '10.20.30.40');
  });

  it('parses CIDRs and refuses malformed ones', () => {
    assert.deepEqual(parseCidr('10.1.2.3/8'), { version: 4, base: 0x0a000000n, prefix: 8 });
    assert.deepEqual(parseCidr('::1'), { version: 6, base: 1n, prefix: 128 });
    for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/x', 'host/8'])
      assert.equal(parseCidr(bad), undefined, bad);
  });
});

describe('egress policy', () => {
  it('by default allows public addresses only', () => {
    assert.equal(checkAddress(PUBLIC_ONLY, ip('93.184.216.34')).allowed, true);
    for (const refused of [
      '127.0.0.1',
      '10.0.0.1',
      '192.168.0.1',
      '0.0.0.0',
      '::1',
      'fd00::1',
      '224.0.0.1',
      '255.255.255.255',
    ]) {
      assert.equal(checkAddress(PUBLIC_ONLY, ip(refused)).allowed, false, refused);
    }
  });

  it('allows what an allowed CIDR contains, and nothing around it', () => {
    const policy = parseAllowList('10.1.0.0/16, fd00:1::/32');
    assert.equal(checkAddress(policy, ip('10.1.200.3')).allowed, true);
    assert.equal(checkAddress(policy, ip('::ffff:10.1.200.3')).allowed, true, 'the mapped form of an allowed address');
    assert.equal(checkAddress(policy, ip('10.2.0.1')).allowed, false);
    assert.equal(checkAddress(policy, ip('fd00:1:2::3')).allowed, true);
    assert.equal(checkAddress(policy, ip('fd00:2::3')).allowed, false);
    assert.equal(checkAddress(policy, ip('127.0.0.1')).allowed, false);
  });

  it('allows an allowed host name to resolve to non-public addresses, with wildcards one level down or more', () => {
    const policy = parseAllowList('billing.internal, *.corp.example.com');
    assert.equal(checkAddress(policy, ip('10.0.0.5'), 'billing.internal').allowed, true);
    assert.equal(checkAddress(policy, ip('10.0.0.5'), 'BILLING.internal.').allowed, true);
    assert.equal(checkAddress(policy, ip('10.0.0.5'), 'a.b.corp.example.com').allowed, true);
    assert.equal(checkAddress(policy, ip('10.0.0.5'), 'corp.example.com').allowed, false);
    assert.equal(checkAddress(policy, ip('10.0.0.5'), 'evilcorp.example.com').allowed, false);
    assert.equal(checkAddress(policy, ip('10.0.0.5'), 'other.internal').allowed, false);
    assert.equal(checkAddress(policy, ip('10.0.0.5')).allowed, false, 'a literal is not a host name');
  });

  it('never allows link-local or metadata addresses, whatever the allow-list says', () => {
    const everything = parseAllowList('0.0.0.0/0, ::/0, metadata.google.internal, *.internal');
    for (const never of [
      '169.254.169.254',
      '169.254.0.1',
      '100.100.100.200',
      'fd00:ec2::254',
      'fe80::1',
      '::ffff:169.254.169.254',
      '168.63.129.16',
    ]) {
      const d = checkAddress(everything, ip(never), 'metadata.google.internal');
      assert.equal(d.allowed, false, never);
      assert.match(!d.allowed ? d.reason : '', /never allowed/);
    }
    assert.equal(checkAddress(everything, ip('10.0.0.1')).allowed, true, 'the same list does allow a private address');
    assert.equal(checkAddress(withLoopback(PUBLIC_ONLY), ip('169.254.169.254')).allowed, false);
  });

  it('withLoopback adds 127/8 and ::1 only', () => {
    const policy = withLoopback(PUBLIC_ONLY);
    assert.equal(checkAddress(policy, ip('127.0.0.53')).allowed, true);
    assert.equal(checkAddress(policy, ip('::1')).allowed, true);
    assert.equal(checkAddress(policy, ip('10.0.0.1')).allowed, false);
    assert.equal(checkAddress(policy, ip('0.0.0.0')).allowed, false);
  });
});

describe('URL literals, as the WHATWG URL parser normalizes them', () => {
  const table: Array<[string, AddressRange | undefined]> = [
    ['http://169.254.169.254/latest/meta-data/', 'metadata'],
    ['http://2852039166/', 'metadata'], // decimal
    ['http://0xa9fea9fe/', 'metadata'], // hex
    ['http://0251.0376.0251.0376/', 'metadata'], // octal
    ['http://169.254.43518/', 'metadata'], // short form
    ['http://0xa9.0xfe.0xa9.0xfe/', 'metadata'],
    ['http://[::ffff:169.254.169.254]/', 'metadata'], // IPv4-mapped IPv6
    ['http://[::ffff:a9fe:a9fe]/', 'metadata'],
    ['http://[fd00:ec2::254]/', 'metadata'],
    ['http://127.1/', 'loopback'],
    ['http://0x7f000001/', 'loopback'],
    ['http://017700000001/', 'loopback'],
    ['http://127.0.0.1./', 'loopback'],
    ['http://0/', 'unspecified'],
    ['http://[::]/', 'unspecified'],
    ['http://localhost:8080/', 'loopback'],
    ['http://LocalHost./', 'loopback'],
    ['http://api.localhost/', 'loopback'],
    ['https://10.0.0.1:8443/x', 'private'],
    ['http://8.8.8.8/', 'public'],
    ['http://example.com/', undefined], // a name: checked when the job connects
    ['http://169.254.169.254.nip.io/', undefined],
  ];
  for (const [url, range] of table) {
    it(`${url} is ${range ?? 'a name (decided at connect time)'}`, () => {
      const d = checkUrlHost(PUBLIC_ONLY, url);
      assert.equal(d?.range, range);
      assert.equal(d?.allowed, range === undefined ? undefined : range === 'public');
    });
  }

  it('localhost is allowed when loopback or the name is', () => {
    assert.equal(checkUrlHost(withLoopback(PUBLIC_ONLY), 'http://localhost/')?.allowed, true);
    assert.equal(checkUrlHost(parseAllowList('localhost'), 'http://localhost/')?.allowed, true);
    assert.equal(checkUrlHost(parseAllowList('10.0.0.0/8'), 'http://localhost/')?.allowed, false);
  });
});

describe('SUNDIAL_HTTP_ALLOW', () => {
  it('parses CIDRs, bare addresses and host names; empty means public only', () => {
    assert.deepEqual(loadConfig({}).egress, PUBLIC_ONLY);
    const c = loadConfig({ SUNDIAL_HTTP_ALLOW: ' 10.0.0.0/8 , ::1, Billing.Internal., *.corp.example.com,' });
    assert.equal(c.egress.cidrs.length, 2);
    assert.deepEqual(c.egress.hosts, ['billing.internal', '*.corp.example.com']);
  });

  const bad: Array<[string, RegExp]> = [
    ['10.0.0.0/33', /entry 1 must be a CIDR/],
    ['10.0.0.0/8,not a host', /entry 2 must be a CIDR/],
    ['http://x.example', /entry 1 must be a CIDR/],
    ['1.2.3', /entry 1 must be a CIDR/],
    ['169.254.0.0/16', /entry 1 is a link-local or cloud metadata range/],
    ['169.254.169.254', /never allowed/],
    ['fe80::/64', /never allowed/],
    ['10.0.0.0/8,fd00:ec2::254', /entry 2 .*never allowed/],
  ];
  for (const [value, message] of bad) {
    it(`refuses ${JSON.stringify(value)}, naming the variable and the entry but not the value`, () => {
      assert.throws(() => parseAllowList(value), AllowListError);
      try {
        loadConfig({ SUNDIAL_HTTP_ALLOW: value });
        assert.fail('expected a ConfigError');
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.variable, 'SUNDIAL_HTTP_ALLOW');
        assert.match(err.message, message);
        assert.ok(!err.message.includes(value), 'the value is not echoed');
      }
    });
  }
});

describe('the connect-time lookup', () => {
  const fake =
    (answers: Record<string, string[]>): Resolver =>
    (hostname, _options, callback) =>
      callback(
        null,
        (answers[hostname] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
      );
  const lookupOnce = (policy: EgressPolicy, resolve: Resolver, host: string, all: boolean) =>
    new Promise<{ err: unknown; result: unknown }>((done) =>
      guardedLookup(policy, resolve)(host, { all }, (err, address, family) =>
        done({ err, result: all ? address : [address, family] }),
      ),
    );

  it('hands back exactly the addresses it checked', async () => {
    const resolve = fake({ 'api.example.com': ['93.184.216.34', '2606:2800:220:1::1'] });
    assert.deepEqual((await lookupOnce(PUBLIC_ONLY, resolve, 'api.example.com', true)).result, [
      { address: '93.184.216.34', family: 4 },
      { address: '2606:2800:220:1::1', family: 6 },
    ]);
    assert.deepEqual((await lookupOnce(PUBLIC_ONLY, resolve, 'api.example.com', false)).result, ['93.184.216.34', 4]);
  });

  it('refuses the name when any one of its addresses is refused (a public decoy does not help)', async () => {
    const resolve = fake({
      'rebind.example.com': ['93.184.216.34', '169.254.169.254'],
      'internal.example.com': ['10.0.0.7'],
    });
    const { err } = await lookupOnce(PUBLIC_ONLY, resolve, 'rebind.example.com', true);
    assert.ok(err instanceof EgressDeniedError);
    assert.equal(err.address, '169.254.169.254');
    assert.equal(err.range, 'metadata');
    assert.ok((await lookupOnce(PUBLIC_ONLY, resolve, 'internal.example.com', false)).err instanceof EgressDeniedError);
    assert.equal(
      (await lookupOnce(parseAllowList('internal.example.com'), resolve, 'internal.example.com', false)).err,
      null,
      'an allowed name',
    );
    assert.ok(
      (await lookupOnce(parseAllowList('rebind.example.com'), resolve, 'rebind.example.com', false)).err instanceof
        EgressDeniedError,
      'allowing a name never allows metadata',
    );
  });

  it('resolves localhost through the system resolver and refuses it unless loopback is allowed', async () => {
    assert.ok(
      (await lookupOnce(PUBLIC_ONLY, dnsLookup as Resolver, 'localhost', true)).err instanceof EgressDeniedError,
    );
    assert.equal((await lookupOnce(withLoopback(PUBLIC_ONLY), dnsLookup as Resolver, 'localhost', true)).err, null);
  });
});

describe('code jobs', () => {
  it('a refused literal URL is a bad task.url when the registry is given the policy', () => {
    const job = defineJob({
      id: 'meta',
      schedule: { cron: '@hourly' },
      http: { url: 'http://[::ffff:169.254.169.254]/latest/meta-data/' },
    });
    assert.throws(
      () => JobRegistry.create([job], { egress: withLoopback(PUBLIC_ONLY) }),
      (err: unknown) =>
        err instanceof JobDefinitionError &&
        err.problems.some((p) => p.jobId === 'meta' && p.path === 'task.url' && /metadata/.test(p.message)),
    );
    const local = defineJob({
      id: 'local',
      schedule: { cron: '@hourly' },
      http: { url: 'http://127.0.0.1:8080/healthz' },
    });
    assert.doesNotThrow(() => JobRegistry.create([local], { egress: withLoopback(PUBLIC_ONLY) }));
    assert.throws(() => JobRegistry.create([local], { egress: PUBLIC_ONLY }), JobDefinitionError);
  });
});
