import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findUnsafeKey, MAX_BODY_DEPTH } from '../../src/api/request-guards';
import { durationRangeProblem, MAX_TIMER_MS } from '../../src/util/duration';
import { applyMergePatch } from '../../src/util/merge-patch';

describe('merge patch and hostile bodies', () => {
  it('When a patch has a __proto__ key (as JSON.parse makes it), then it stays a key and the prototype is untouched', () => {
    const target = { id: 'a', task: { type: 'http', url: 'http://x/' } };
    const patch: unknown = JSON.parse('{"__proto__":{"polluted":true},"task":{"__proto__":{"type":"other"}}}');
    const result = applyMergePatch(target, patch) as Record<string, any>;
    assert.equal(Object.getPrototypeOf(result), Object.prototype);
    assert.equal(Object.getPrototypeOf(result.task), Object.prototype);
    assert.ok(Object.hasOwn(result, '__proto__'), 'an own key validation will refuse');
    assert.equal(result.task.type, 'http');
    assert.equal(result.polluted, undefined);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.deepEqual(target, { id: 'a', task: { type: 'http', url: 'http://x/' } }, 'the target is not changed');
  });

  it('When a patch is an ordinary merge patch, then objects merge, null deletes and the rest replaces', () => {
    assert.deepEqual(applyMergePatch({ a: { b: 1, c: 2 }, d: [1] }, { a: { b: null, e: 3 }, d: [2] }), {
      a: { c: 2, e: 3 },
      d: [2],
    });
  });

  it('When a body has __proto__, constructor or prototype anywhere, then the first is named by its path', () => {
    assert.deepEqual(findUnsafeKey(JSON.parse('{"a":[{"b":{"constructor":1}}]}')), {
      path: 'a.0.b.constructor',
      message: 'a key named constructor is not accepted',
    });
    assert.equal(findUnsafeKey(JSON.parse('{"__proto__":1}'))?.path, '__proto__');
    assert.equal(findUnsafeKey({ x: { prototype: null } })?.path, 'x.prototype');
    assert.equal(
      findUnsafeKey({ task: { type: 'http', headers: { Constructor: 'ok' } } }),
      undefined,
      'names are case-sensitive',
    );
    assert.equal(findUnsafeKey('text'), undefined);
  });

  it(`When a body nests more than ${MAX_BODY_DEPTH} levels, then it is refused without a stack overflow`, () => {
    const deep: unknown = JSON.parse('['.repeat(30_000) + ']'.repeat(30_000));
    assert.match(findUnsafeKey(deep)?.message ?? '', /nested more than/);
    assert.equal(
      findUnsafeKey(JSON.parse('{"a":'.repeat(MAX_BODY_DEPTH) + '1' + '}'.repeat(MAX_BODY_DEPTH))),
      undefined,
    );
  });

  it('When a duration is zero or past its bound, then the message says which bound', () => {
    assert.match(durationRangeProblem(0, { minMs: 1, maxMs: MAX_TIMER_MS }) ?? '', /must not be zero/);
    assert.equal(
      durationRangeProblem(MAX_TIMER_MS + 1, { minMs: 1, maxMs: MAX_TIMER_MS }),
      'must be at most 24.8d (2147483647 ms)',
    );
    assert.equal(durationRangeProblem(500, { minMs: 1000, maxMs: MAX_TIMER_MS }), 'must be at least 1s');
    assert.equal(durationRangeProblem(MAX_TIMER_MS, { minMs: 1, maxMs: MAX_TIMER_MS }), undefined);
    assert.equal(durationRangeProblem(0, { minMs: 0, maxMs: 10 }), undefined);
  });
});
