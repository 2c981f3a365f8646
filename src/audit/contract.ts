import { defineQuery, defineSignal } from '@temporalio/workflow';

/**
 * The audit entity's contract: one long-lived workflow per job id records every change made to
 * that job over the API (docs/audit.md). Types and definitions only, so that workflow code, the
 * API and tests share them.
 */

/** The audit entity of one job is the workflow with this id. */
export const auditWorkflowId = (jobId: string): string => `sundial-audit:${jobId}`;
export const AUDIT_WORKFLOW_TYPE = 'auditWorkflow';

/** The API routes that write, as audit actions. */
export const AuditAction = {
  create: 'create',
  patch: 'patch',
  pause: 'pause',
  unpause: 'unpause',
  trigger: 'trigger',
  backfill: 'backfill',
  delete: 'delete',
} as const;
export type AuditAction = (typeof AuditAction)[keyof typeof AuditAction];

/**
 * How a recorded change ended. `pending`: recorded before the change was made, and its end never
 * recorded (the API process died, or Temporal refused the second write): the change may or may
 * not have been applied; the job itself says which.
 */
export const AuditOutcome = { pending: 'pending', applied: 'applied', failed: 'failed' } as const;
export type AuditOutcome = (typeof AuditOutcome)[keyof typeof AuditOutcome];

/** Who made a change: the API key's id (never the key), null on a keyless (loopback-only) API. */
export interface AuditActor {
  readonly keyId: string | null;
  readonly role: 'read' | 'write' | null;
}

/**
 * A job's creation as recorded with the job itself (its schedule's memo, written once with the
 * schedule: the record and the change are one write), so a create does not start the entity.
 * The entity takes it in with the job's next audited write ({@link AuditBegin.created}), ahead
 * of that write; until then the API lists it from the memo.
 */
export interface AuditCreated {
  readonly id: string;
  readonly by: AuditActor;
  /** When the job was created, ISO 8601. */
  readonly at: string;
  /** The spec as written at creation (redacted), as a merge patch from nothing. */
  readonly diff?: unknown;
  readonly truncated?: boolean;
}

/** Sent before the change is made. */
export interface AuditBegin {
  /** Chosen by the API for this request (a UUID): the entry's id, so a repeated signal is recorded once. */
  readonly id: string;
  readonly action: AuditAction;
  readonly by: AuditActor;
  /** The request as sent (redacted): a spec, a merge patch, a note, a trigger's overrides, a range. */
  readonly request?: unknown;
  /** The request was larger than an entry keeps and was left out. */
  readonly truncated?: boolean;
  /** The job's creation, recorded with the job: recorded first, once (by its id). */
  readonly created?: AuditCreated;
}

/** Sent once the change has been made, or refused. */
export interface AuditEnd {
  readonly id: string;
  readonly outcome: Exclude<AuditOutcome, 'pending'>;
  /** The HTTP status the route answered. */
  readonly status: number;
  /** What changed in the spec, as a JSON merge patch (redacted); null when the job was deleted. */
  readonly diff?: unknown;
  /** What the change did besides the spec: the run a trigger started, a pause note. */
  readonly details?: Record<string, unknown>;
  /** The diff was larger than an entry keeps and was left out. */
  readonly truncated?: boolean;
}

/** One audit entry, as the entity keeps it and the API lists it. */
export interface AuditEntry {
  /** 1, 2, 3, ... in the order the entity received the changes; never reused for a job id. */
  readonly seq: number;
  readonly id: string;
  readonly action: AuditAction;
  readonly by: AuditActor;
  /** When the entity recorded the change (before it was made), ISO 8601. */
  readonly at: string;
  readonly outcome: AuditOutcome;
  readonly status?: number;
  /** When its end was recorded, ISO 8601. */
  readonly completedAt?: string;
  readonly request?: unknown;
  readonly diff?: unknown;
  readonly details?: Record<string, unknown>;
  /** The request or diff was larger than an entry keeps (see MAX_ENTRY_PART_CHARS) and left out. */
  readonly truncated?: boolean;
}

export interface AuditPageRequest {
  readonly pageSize: number;
  /** Entries with a seq below this one; absent: from the newest. */
  readonly before?: number;
  /** An entry id to look for among all kept entries (the job's creation, not yet taken in?). */
  readonly hasId?: string;
}

export interface AuditPage {
  /** Newest first. */
  readonly items: AuditEntry[];
  /** The `before` of the next page; null on the last. */
  readonly nextBefore: number | null;
  /** Entries dropped from the front to keep the entity bounded (oldest first). */
  readonly dropped: number;
  /** Whether the entity holds the entry `hasId` asked about; absent when not asked. */
  readonly hasId?: boolean;
}

/** The entry a job's creation, recorded with the job, stands for. */
export function createdEntry(c: AuditCreated, seq: number): AuditEntry {
  return {
    seq,
    id: c.id,
    action: 'create',
    by: c.by,
    at: c.at,
    outcome: 'applied',
    status: 201,
    completedAt: c.at,
    ...(c.diff === undefined ? {} : { diff: c.diff }),
    ...(c.truncated === true ? { truncated: true } : {}),
  };
}

/** The most entries an entity keeps; older ones are dropped (and counted). */
export const MAX_AUDIT_ENTRIES = 1_000;
/** The most JSON characters of all kept entries together, so continue-as-new stays under Temporal's payload limit. */
export const MAX_AUDIT_CHARS = 512 * 1024;
/** A request or diff larger than this (JSON characters) is left out of its entry, which says so. */
export const MAX_ENTRY_PART_CHARS = 16 * 1024;
/**
 * How long an entity is kept once idle after its job was deleted (or when none of its changes was
 * ever applied), in ms; then it completes and Temporal keeps its history for the namespace's
 * retention. A new change to the job id in that time keeps it.
 */
export const AUDIT_KEEP_AFTER_DELETE_MS = 30 * 24 * 3600_000;

export const auditBeginSignal = defineSignal<[AuditBegin]>('auditBegin');
export const auditEndSignal = defineSignal<[AuditEnd]>('auditEnd');
export const auditPageQuery = defineQuery<AuditPage, [AuditPageRequest]>('auditPage');
