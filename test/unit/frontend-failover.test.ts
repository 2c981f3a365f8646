import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nextAddresses } from '../../src/temporal/frontend-failover';

describe('frontend failover order', () => {
  it('tries the frontends after the current one in list order, wrapping around, never the current one', () => {
    assert.deepEqual(nextAddresses(['a:1', 'b:2', 'c:3'], 'a:1'), ['b:2', 'c:3']);
    assert.deepEqual(nextAddresses(['a:1', 'b:2', 'c:3'], 'b:2'), ['c:3', 'a:1']);
    assert.deepEqual(nextAddresses(['a:1', 'b:2', 'c:3'], 'c:3'), ['a:1', 'b:2']);
    assert.deepEqual(nextAddresses(['a:1'], 'a:1'), []);
  });
});
