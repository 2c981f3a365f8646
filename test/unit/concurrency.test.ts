import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mapWithConcurrency } from '../../src/util/concurrency';

describe('mapWithConcurrency', () => {
  it('keeps at most `limit` calls in flight and returns results in the items order', async () => {
    let inFlight = 0;
    let most = 0;
    const items = Array.from({ length: 25 }, (_, i) => i);
    const results = await mapWithConcurrency(items, 4, async (n) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, (n * 7) % 5));
      inFlight--;
      return n * 2;
    });
    assert.equal(most, 4);
    assert.deepEqual(
      results,
      items.map((n) => n * 2),
    );
  });

  it('rejects with the first failure, and maps nothing to nothing', async () => {
    await assert.rejects(
      mapWithConcurrency([1, 2, 3], 2, async (n) => (n === 2 ? Promise.reject(new Error('two')) : n)),
      /two/,
    );
    assert.deepEqual(await mapWithConcurrency([], 3, async () => 1), []);
  });
});
