import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RevisionCache, scheduleListQuery } from '../../src/schedules/listing';
import { openPageToken, sealPageToken } from '../../src/temporal/page-token';
import { revisionHash } from '../../src/schedules/mapping';

describe('the job list query', () => {
  it('is absent without filters, and joins each filter with AND', () => {
    assert.equal(scheduleListQuery({}), undefined);
    assert.equal(scheduleListQuery({ origin: 'api' }), 'SundialOrigin = "api"');
    assert.equal(
      scheduleListQuery({ paused: false, idPrefix: 'nightly.' }),
      'TemporalSchedulePaused = false AND ScheduleId STARTS_WITH "nightly."',
    );
  });
});

describe('revisions', () => {
  it('name the hash they were written with', () => {
    assert.equal(revisionHash('abc123.f00d'), 'abc123');
    assert.equal(revisionHash('abc123'), 'abc123', 'a revision without a stamp is its hash');
  });

  it('are cached per job, one revision at a time, least recently used out first', () => {
    const cache = new RevisionCache<string>(2);
    cache.set('a', 'r1', 'a at r1');
    assert.equal(cache.get('a', 'r1'), 'a at r1');
    assert.equal(cache.get('a', 'r2'), undefined, 'another revision is a miss');
    cache.set('a', 'r2', 'a at r2');
    assert.equal(cache.get('a', 'r1'), undefined, 'a new revision replaces the old');
    cache.set('b', 'r1', 'b');
    cache.get('a', 'r2');
    cache.set('c', 'r1', 'c');
    assert.equal(cache.get('b', 'r1'), undefined, 'b was least recently used');
    assert.equal(cache.get('a', 'r2'), 'a at r2');
    cache.delete('a');
    assert.equal(cache.get('a', 'r2'), undefined);
  });
});

describe('page tokens', () => {
  it("open only with the query they were sealed with, giving Temporal's token back", () => {
    const token = new Uint8Array([1, 2, 3, 250]);
    const sealed = sealPageToken(token, 'SundialOrigin = "api"');
    assert.deepEqual(openPageToken(sealed, 'SundialOrigin = "api"'), Buffer.from(token));
    assert.equal(openPageToken(sealed, undefined), undefined, 'another filter');
    assert.equal(openPageToken('not-a-token', undefined), undefined);
    assert.equal(openPageToken('', undefined), undefined);
  });
});
