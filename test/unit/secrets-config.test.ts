import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { loadConfig } from '../../src/config/env';
import { problem } from '../support/config';
import { redactSpec } from '../../src/api/redact';
import type { JobCode } from '../../src/jobs/define';
import { checkTask } from '../../src/jobs/registry';
import { parseJobSpec } from '../../src/jobs/spec';
import {
  resolveHeaders,
  scrubError,
  scrubValue,
  SecretInvalidError,
  SecretMissingError,
} from '../../src/secrets/resolve';

describe('secrets and codec keys from the environment', () => {
  it('reads codec keys, the first one encrypting, and never echoes a key in an error', () => {
    const k1 = randomBytes(32).toString('base64');
    const k2 = randomBytes(32).toString('base64');
    const c = loadConfig({ SUNDIAL_CODEC_KEYS: `new:${k2}, old:${k1}` });
    assert.deepEqual(
      c.temporal.codecKeys?.map((k) => [k.id, k.key.toString('base64')]),
      [
        ['new', k2],
        ['old', k1],
      ],
    );
    assert.equal(loadConfig({}).temporal.codecKeys, undefined, 'off by default');
    const dir = mkdtempSync(path.join(tmpdir(), 'sundial-codec-'));
    try {
      writeFileSync(path.join(dir, 'keys'), `# rotated out next month\nold:${k1}\n`);
      assert.deepEqual(
        loadConfig({
          SUNDIAL_CODEC_KEYS: `new:${k2}`,
          SUNDIAL_CODEC_KEYS_FILE: path.join(dir, 'keys'),
        }).temporal.codecKeys?.map((k) => k.id),
        ['new', 'old'],
      );
      assert.equal(
        problem({ SUNDIAL_CODEC_KEYS: `old:${k2}`, SUNDIAL_CODEC_KEYS_FILE: path.join(dir, 'keys') }).variable,
        'SUNDIAL_CODEC_KEYS',
      );
      assert.equal(problem({ SUNDIAL_CODEC_KEYS_FILE: path.join(dir, 'none') }).variable, 'SUNDIAL_CODEC_KEYS_FILE');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const short = randomBytes(16).toString('base64');
    for (const bad of [`k:${short}`, short, `k:${k1},k:${k2}`, `bad id:${k1}`, `k:${k1.slice(0, -4)}!!!!`]) {
      const err = problem({ SUNDIAL_CODEC_KEYS: bad });
      assert.equal(err.variable, 'SUNDIAL_CODEC_KEYS', bad);
      assert.ok(!err.message.includes(short) && !err.message.includes(k1.slice(0, 20)), err.message);
    }
  });

  it('reads SUNDIAL_SECRET_<NAME> and SUNDIAL_SECRETS_FILE (the variable wins), naming only names in errors', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sundial-secrets-'));
    try {
      const file = path.join(dir, 'secrets.json');
      writeFileSync(file, JSON.stringify({ FROM_FILE: 'file-value', BOTH: 'file-loses' }));
      const c = loadConfig({
        SUNDIAL_SECRETS_FILE: file,
        SUNDIAL_SECRET_BOTH: 'env-wins',
        SUNDIAL_SECRET_API_TOKEN: 'tok',
      });
      assert.deepEqual(Object.fromEntries(c.secrets), { FROM_FILE: 'file-value', BOTH: 'env-wins', API_TOKEN: 'tok' });
      writeFileSync(file, JSON.stringify({ ok_not: 'hidden-value-1' }));
      const badName = problem({ SUNDIAL_SECRETS_FILE: file });
      assert.equal(badName.variable, 'SUNDIAL_SECRETS_FILE');
      writeFileSync(file, JSON.stringify({ NUMBER: 12345678 }));
      assert.match(problem({ SUNDIAL_SECRETS_FILE: file }).message, /NUMBER must be a string/);
      writeFileSync(file, 'TOKEN=hidden-value-2');
      const notJson = problem({ SUNDIAL_SECRETS_FILE: file });
      assert.ok(!notJson.message.includes('hidden-value-2'), notJson.message);
      assert.equal(problem({ SUNDIAL_SECRETS_FILE: path.join(dir, 'missing.json') }).variable, 'SUNDIAL_SECRETS_FILE');
      assert.equal(problem({ SUNDIAL_SECRET_lower: 'x' }).variable, 'SUNDIAL_SECRET_lower');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('secret resolution and scrubbing', () => {
  const secrets = new Map([
    ['TOKEN', 'Bearer abc-123'],
    ['NEWLINE', 'value\n'],
  ]);

  it('resolves header references, and refuses a missing or unsendable secret by name', () => {
    assert.deepEqual(resolveHeaders({ a: 'plain', authorization: { secret: 'TOKEN' } }, secrets), {
      a: 'plain',
      authorization: 'Bearer abc-123',
    });
    assert.throws(
      () => resolveHeaders({ a: { secret: 'NOPE' } }, secrets),
      (e: Error) => e instanceof SecretMissingError && e.name === 'SecretMissing' && e.message.includes('NOPE'),
    );
    assert.throws(
      () => resolveHeaders({ a: { secret: 'NEWLINE' } }, secrets),
      (e: Error) => e instanceof SecretInvalidError && !e.message.includes('value\n'),
    );
  });

  it('scrubs values from results and errors', () => {
    assert.deepEqual(scrubValue({ echo: 'got Bearer abc-123!', list: ['Bearer abc-123'], n: 1 }, ['Bearer abc-123']), {
      echo: 'got [redacted]!',
      list: ['[redacted]'],
      n: 1,
    });
    const err = scrubError(new Error('failed with Bearer abc-123', { cause: new Error('Bearer abc-123') }), [
      'Bearer abc-123',
    ]) as Error;
    assert.ok(
      !err.message.includes('abc-123') &&
        !(err.stack ?? '').includes('abc-123') &&
        !(err.cause as Error).message.includes('abc-123'),
    );
  });

  it('redacts plain header values in the API view, keeps references', () => {
    const spec = { id: 'j', task: { type: 'http', url: 'http://x/', headers: { a: 'plain', b: { secret: 'B' } } } };
    assert.deepEqual(redactSpec(spec).task.headers, { a: '[redacted]', b: { secret: 'B' } });
    assert.deepEqual(spec.task.headers.a, 'plain', 'the stored spec is untouched');
    const code = { id: 'c', task: { type: 'mine', args: { headers: { a: 'kept' } } } };
    assert.equal(redactSpec(code), code);
  });
});

describe('secret references in code job args', () => {
  const spec = (type: string, args: unknown) => {
    const parsed = parseJobSpec({ id: 'j', schedule: { cron: '0 0 1 1 *' }, task: { type, args } });
    assert.ok(parsed.ok);
    return parsed.spec;
  };
  const workflowCode: JobCode = { mode: 'workflow', workflowType: 'multiStep', description: '' };
  const typed: JobCode = {
    mode: 'activity',
    run: () => null,
    description: '',
    argsSchema: z.object({ token: z.string(), n: z.number() }),
  };

  it('refuses them for multi-step (workflow) jobs, naming the field', () => {
    assert.deepEqual(
      checkTask(spec('multi', { deep: [{ secret: 'TOKEN' }] }), () => workflowCode).map((p) => p.path),
      ['task.args.deep.0'],
    );
    assert.deepEqual(
      checkTask(spec('multi', { plain: 1 }), () => workflowCode),
      [],
    );
  });

  it("checks args against the job's schema as if each reference were the string it becomes", () => {
    assert.deepEqual(
      checkTask(spec('typed', { token: { secret: 'TOKEN' }, n: 1 }), () => typed),
      [],
    );
    assert.deepEqual(
      checkTask(spec('typed', { token: { secret: 'TOKEN' }, n: 'x' }), () => typed).map((p) => p.path),
      ['task.args.n'],
    );
  });
});
