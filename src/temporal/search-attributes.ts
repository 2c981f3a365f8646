import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Custom search attributes Sundial sets on every run, so runs can be listed by job and status. */
export const SundialJobId = defineSearchAttributeKey('SundialJobId', SearchAttributeType.KEYWORD);
export const SundialStatus = defineSearchAttributeKey('SundialStatus', SearchAttributeType.KEYWORD);

/**
 * On each job's schedule (not its runs): `code` or `api`, so the job list can be filtered by
 * origin on the server.
 */
export const SundialOrigin = defineSearchAttributeKey('SundialOrigin', SearchAttributeType.KEYWORD);
/**
 * On each job's schedule: the revision of the spec last written (`<hash>.<nonce>`). Every
 * create and update rewrites it (a schedule's own memo cannot be updated), so a listing learns
 * whether the memo it returns is still current, and start-up reconciliation which jobs changed.
 */
export const SundialRevision = defineSearchAttributeKey('SundialRevision', SearchAttributeType.KEYWORD);

/**
 * On each job's schedule whose runs declare a breaker: its key, so that creating or updating a
 * job finds the other jobs on the key (to compare their thresholds) without reading every job.
 */
export const SundialBreakerKey = defineSearchAttributeKey('SundialBreakerKey', SearchAttributeType.KEYWORD);

export const SUNDIAL_SEARCH_ATTRIBUTES = [
  SundialJobId,
  SundialStatus,
  SundialOrigin,
  SundialRevision,
  SundialBreakerKey,
] as const;
