import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evictions } from '../../src/breaker/cache';

describe('the breaker cache bound', () => {
  const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
  const cache = {
    a: { result: 'x', cachedAt: at(3) },
    b: { result: 'x', cachedAt: at(1) },
    c: { result: 'x', cachedAt: at(2) },
    d: { result: 'x', cachedAt: at(1) },
  };

  it('evicts nothing while the total is within the bound', () => {
    assert.deepEqual(
      evictions(cache, () => 10, 40),
      [],
    );
  });

  it('evicts the oldest results first, ties by job id, until the total fits', () => {
    assert.deepEqual(
      evictions(cache, () => 10, 25),
      ['b', 'd'],
    );
    assert.deepEqual(
      evictions(cache, () => 10, 5),
      ['b', 'd', 'c', 'a'],
    );
  });

  it('counts each entry by its own size', () => {
    const sizes: Record<string, number> = { a: 5, b: 100, c: 5, d: 5 };
    assert.deepEqual(
      evictions(cache, (id) => sizes[id]!, 20),
      ['b'],
    );
  });
});
