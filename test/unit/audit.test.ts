import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redactHeaderValues } from '../../src/secrets/redact';
import { apiKeyId } from '../../src/api/auth';
import { applyMergePatch, createMergePatch } from '../../src/util/merge-patch';

describe('audit diffs and redaction', () => {
  it('When a spec changes, then the merge patch holds exactly the changes and applying it gives the new spec', () => {
    const before = {
      id: 'a',
      description: 'x',
      schedule: { cron: '0 3 * * *', timezone: 'UTC' },
      task: { type: 'http', url: 'http://h/', headers: { A: '1', B: '2' } },
      retry: { maximumAttempts: 3 },
    };
    const after = {
      id: 'a',
      description: 'y',
      schedule: { cron: ['0 4 * * *'], timezone: 'UTC' },
      task: { type: 'http', url: 'http://h/', headers: { A: '1', C: '3' } },
    };
    const patch = createMergePatch(before, after);
    assert.deepEqual(patch, {
      description: 'y',
      schedule: { cron: ['0 4 * * *'] },
      task: { headers: { B: null, C: '3' } },
      retry: null,
    });
    assert.deepEqual(applyMergePatch(before, patch), after);
  });

  it('When nothing changed, then there is no patch; arrays are replaced whole', () => {
    assert.equal(createMergePatch({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] }), undefined);
    assert.deepEqual(createMergePatch({ a: [1, 2] }, { a: [1] }), { a: [1] });
    assert.deepEqual(createMergePatch(undefined, { a: 1 }), { a: 1 });
    assert.deepEqual(createMergePatch({}, { a: { b: 1 } }), { a: { b: 1 } });
  });

  it('When a diff has a __proto__ key, then it stays an own key', () => {
    const patch = createMergePatch({}, JSON.parse('{"__proto__":{"x":1}}')) as Record<string, unknown>;
    assert.ok(Object.hasOwn(patch, '__proto__'));
    assert.equal(Object.getPrototypeOf(patch), Object.prototype);
  });

  it('When a value holds headers at any depth, then their string values are hidden and secret references kept', () => {
    const value = {
      task: { headers: { Authorization: 'Bearer s3cret', 'X-Key': { secret: 'API_KEY' }, Gone: null } },
      args: [{ headers: { a: 'b' } }],
      other: 'kept',
    };
    assert.deepEqual(redactHeaderValues(value), {
      task: { headers: { Authorization: '[redacted]', 'X-Key': { secret: 'API_KEY' }, Gone: null } },
      args: [{ headers: { a: '[redacted]' } }],
      other: 'kept',
    });
    assert.equal(redactHeaderValues(null), null);
    assert.equal(redactHeaderValues('headers'), 'headers');
  });

  it('When a key id is computed, then it is 12 hex digits of its SHA-256 and does not contain the key', () => {
    // printf %s 'write-key-0123456789' | sha256sum | cut -c1-12
    assert.equal(apiKeyId('write-key-0123456789'), '9f3302c18e50');
    assert.match(apiKeyId('x'.repeat(40)), /^[0-9a-f]{12}$/);
  });
});
