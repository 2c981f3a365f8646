import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/env';
import { problem } from '../support/config';

describe('configuration from the environment', () => {
  it('has documented defaults: the embedded default on 7233/8233, API on 127.0.0.1:8080', () => {
    const c = loadConfig({});
    assert.equal(c.temporal.addresses, undefined);
    assert.equal(c.temporal.namespace, 'default');
    assert.equal(c.temporal.taskQueue, 'sundial');
    assert.deepEqual(c.api, { host: '127.0.0.1', port: 8080, keys: [], temporalTimeoutMs: 10_000 });
    assert.deepEqual(c.embedded, { dataDir: '.sundial', temporalPort: 7233, uiPort: 8233 });
    assert.equal(c.logLevel, 'info');
    assert.equal(c.shutdownGraceMs, 10_000);
    assert.equal(c.workflowCacheSize, 500);
    assert.equal(c.metrics.collectorIntervalMs, 15_000);
  });

  it('reads the metrics collector interval as a duration between 1s and 1h', () => {
    assert.equal(loadConfig({ SUNDIAL_METRICS_INTERVAL: '30s' }).metrics.collectorIntervalMs, 30_000);
    for (const bad of ['15', '500ms', '2h', 'soon']) {
      assert.equal(problem({ SUNDIAL_METRICS_INTERVAL: bad }).variable, 'SUNDIAL_METRICS_INTERVAL', bad);
    }
  });

  it("reads the API's Temporal deadline as a duration between 500ms and 2m", () => {
    assert.equal(loadConfig({ SUNDIAL_API_TEMPORAL_TIMEOUT: '20s' }).api.temporalTimeoutMs, 20_000);
    for (const bad of ['5000', '100ms', '3m', 'later']) {
      assert.equal(problem({ SUNDIAL_API_TEMPORAL_TIMEOUT: bad }).variable, 'SUNDIAL_API_TEMPORAL_TIMEOUT', bad);
    }
  });

  it('names the variable of a wrong value', () => {
    assert.equal(problem({ PORT: 'eighty' }).variable, 'PORT');
    assert.equal(problem({ PORT: '70000' }).variable, 'PORT');
    assert.equal(problem({ SUNDIAL_TEMPORAL_PORT: '-1' }).variable, 'SUNDIAL_TEMPORAL_PORT');
    assert.equal(problem({ TEMPORAL_ADDRESS: 'http://temporal:7233' }).variable, 'TEMPORAL_ADDRESS');
    assert.equal(problem({ LOG_LEVEL: 'loud' }).variable, 'LOG_LEVEL');
    assert.equal(problem({ LOG_FORMAT: 'yaml' }).variable, 'LOG_FORMAT');
    assert.match(problem({ LOG_FORMAT: 'yaml' }).message, /pretty, json/);
    assert.equal(problem({ SUNDIAL_SHUTDOWN_GRACE: '10' }).variable, 'SUNDIAL_SHUTDOWN_GRACE');
    assert.equal(problem({ SUNDIAL_PRUNE_ORPHANS: 'maybe' }).variable, 'SUNDIAL_PRUNE_ORPHANS');
    for (const bad of ['1', '1.5', 'many', '1000000'])
      assert.equal(problem({ SUNDIAL_WORKFLOW_CACHE: bad }).variable, 'SUNDIAL_WORKFLOW_CACHE', bad);
    assert.equal(loadConfig({ SUNDIAL_WORKFLOW_CACHE: '2000' }).workflowCacheSize, 2000);
  });

  it('reads one frontend or a comma list of them, each host:port', () => {
    assert.deepEqual(loadConfig({ TEMPORAL_ADDRESS: 'temporal:7233' }).temporal.addresses, ['temporal:7233']);
    assert.deepEqual(loadConfig({ TEMPORAL_ADDRESS: 'a:7233, b:7234' }).temporal.addresses, ['a:7233', 'b:7234']);
    assert.equal(problem({ TEMPORAL_ADDRESS: 'a:7233,' }).variable, 'TEMPORAL_ADDRESS');
    assert.equal(problem({ TEMPORAL_ADDRESS: 'a:7233,b' }).variable, 'TEMPORAL_ADDRESS');
    assert.match(problem({ TEMPORAL_ADDRESS: 'a:7233,a:7233' }).message, /twice/);
  });

  it('wants a TLS certificate and key together', () => {
    const err = problem({ TEMPORAL_ADDRESS: 'x.tmprl.cloud:7233', TEMPORAL_TLS_CERT_FILE: '/c.pem' });
    assert.equal(err.variable, 'TEMPORAL_TLS_KEY_FILE');
  });

  it('never echoes a secret in its error', () => {
    const err = problem({ TEMPORAL_API_KEY: 'sk-very-secret', PORT: 'x' });
    assert.doesNotMatch(err.message, /sk-very-secret/);
    const noAddress = problem({ TEMPORAL_API_KEY: 'sk-very-secret' });
    assert.equal(noAddress.variable, 'TEMPORAL_ADDRESS');
    assert.doesNotMatch(noAddress.message, /sk-very-secret/);
  });

  it('enables TLS for an API key on an existing cluster', () => {
    const c = loadConfig({ TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_API_KEY: 'k' });
    assert.equal(c.temporal.tls.enabled, true);
    assert.equal(c.temporal.apiKey, 'k');
  });

  it('reads API keys with roles, and never echoes a key in an error', () => {
    const c = loadConfig({ SUNDIAL_API_KEYS: 'read:rrrrrrrrrrrrrrrrrrrr, write:wwwwwwwwwwwwwwwwwwww' });
    assert.deepEqual(
      c.api.keys.map((k) => k.role),
      ['read', 'write'],
    );
    const bad = problem({ SUNDIAL_API_KEYS: 'admin:aaaaaaaaaaaaaaaaaaaaaaa' });
    assert.equal(bad.variable, 'SUNDIAL_API_KEYS');
    assert.doesNotMatch(bad.message, /aaaaaaaa/);
    assert.equal(problem({ SUNDIAL_API_KEYS: 'write:short' }).variable, 'SUNDIAL_API_KEYS');
    assert.equal(problem({ SUNDIAL_API_KEYS_FILE: '/nonexistent/keys' }).variable, 'SUNDIAL_API_KEYS_FILE');
  });

  it('refuses an open API on a non-loopback address', () => {
    assert.equal(problem({ HOST: '0.0.0.0' }).variable, 'HOST');
    assert.equal(loadConfig({ HOST: '0.0.0.0', SUNDIAL_API_KEYS: 'write:wwwwwwwwwwwwwwwwwwww' }).api.host, '0.0.0.0');
    assert.equal(loadConfig({ HOST: '::1' }).api.host, '::1');
  });

  it('lets a worker, which serves no API, start with a non-loopback HOST and no keys', () => {
    assert.equal(loadConfig({ HOST: '0.0.0.0' }, 'worker').api.host, '0.0.0.0');
  });

  it('treats empty variables as unset', () => {
    assert.equal(loadConfig({ PORT: '' }).api.port, 8080);
  });
});
