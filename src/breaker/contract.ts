import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { BreakerConfig, BreakerStateName, Permit } from './state';

/** The breaker entity of one key is the workflow with this id. */
export const breakerWorkflowId = (key: string): string => `sundial-breaker:${key}`;
export const BREAKER_WORKFLOW_TYPE = 'breakerWorkflow';

/** The largest result the fallback cache keeps (JSON characters); larger ones are not cached. */
export const MAX_CACHED_RESULT_CHARS = 64 * 1024;

export interface BreakerView {
  readonly key: string;
  readonly state: BreakerStateName;
  readonly failures: number;
  readonly openedAt?: string;
  readonly nextProbeAt?: string;
  readonly reason?: string;
  readonly jobs: string[];
  /**
   * Transitions into each state since the breaker was first used: kept in the entity's state
   * (and carried over continue-as-new), so they are counted once, whichever worker ran them.
   */
  readonly transitions: Readonly<Record<BreakerStateName, number>>;
}

export interface CachedResult {
  readonly result: unknown;
  /** ISO 8601. */
  readonly cachedAt: string;
}

export interface AdmitRequest {
  readonly jobId: string;
  readonly config: BreakerConfig;
  /** How long a half-open probe holds its slot if its run never reports back, in ms. */
  readonly leaseMs: number;
}

export interface AdmitResponse {
  readonly permit?: Permit;
  readonly view: BreakerView;
}

export interface RecordRequest {
  readonly jobId: string;
  readonly config: BreakerConfig;
  readonly permit: Permit;
  /** Whether the dependency answered well (or answered at all, for a non-retryable error). */
  readonly ok: boolean;
  /**
   * The attempt was cut off by its worker's shutdown and says nothing about the dependency:
   * the permit is given back, and `ok` is ignored. Absent in requests of earlier releases.
   */
  readonly released?: boolean;
  /** On success, the result to cache for the fallback (when the job has one). */
  readonly cache?: { readonly result: unknown };
}

export const admitUpdate = defineUpdate<AdmitResponse, [AdmitRequest]>('admit');
export const recordUpdate = defineUpdate<BreakerView, [RecordRequest]>('record');
export const resetUpdate = defineUpdate<BreakerView, [{ config?: BreakerConfig }]>('reset');
export const forceOpenUpdate = defineUpdate<BreakerView, [{ config?: BreakerConfig }]>('forceOpen');
export const stateQuery = defineQuery<BreakerView>('state');
export const cachedQuery = defineQuery<CachedResult | null, [string]>('cached');
