import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Custom search attributes Sundial sets on every run, so runs can be listed by job and status. */
export const SundialJobId = defineSearchAttributeKey('SundialJobId', SearchAttributeType.KEYWORD);
export const SundialStatus = defineSearchAttributeKey('SundialStatus', SearchAttributeType.KEYWORD);

export const SUNDIAL_SEARCH_ATTRIBUTES = [SundialJobId, SundialStatus] as const;
