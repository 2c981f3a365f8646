import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { redactHeaderValues } from '../secrets/redact';
import {
  AUDIT_WORKFLOW_TYPE,
  auditBeginSignal,
  auditEndSignal,
  auditPageQuery,
  auditWorkflowId,
  MAX_ENTRY_PART_CHARS,
  type AuditAction,
  type AuditActor,
  type AuditCreated,
  type AuditEnd,
  type AuditPage,
} from './contract';
import type { AuditWorkflowInput } from '../workflows/audit-workflow';

/** The change could not be recorded before it was made: it is not made (the route answers 503). */
export class AuditUnavailableError extends Error {
  override readonly name = 'AuditUnavailableError';
  constructor(
    readonly jobId: string,
    options?: { cause?: unknown },
  ) {
    super(
      `the change to job ${JSON.stringify(jobId)} could not be recorded in its audit, so it was not made; retry later`,
      options,
    );
  }
}

/** A part of an entry, redacted, or left out when larger than MAX_ENTRY_PART_CHARS. */
function bounded(value: unknown): { value?: unknown; truncated?: true } {
  if (value === undefined) return {};
  const redacted = redactHeaderValues(value);
  return JSON.stringify(redacted).length > MAX_ENTRY_PART_CHARS ? { truncated: true } : { value: redacted };
}

/** One change being recorded: begun, then ended once. */
export interface AuditRecord {
  readonly id: string;
  end(end: Omit<AuditEnd, 'id' | 'truncated'>): Promise<void>;
}

/**
 * Records changes in each job's audit entity and reads them back. A change is recorded before it
 * is made ({@link begin}: signal-with-start, so the entity need not exist and no worker need be up)
 * and its end after ({@link AuditRecord.end}).
 */
export class AuditStore {
  constructor(
    private readonly deps: { client: Client; taskQueue: string; onEndFailed?: (jobId: string, err: unknown) => void },
  ) {}

  /**
   * Records that a change is about to be made. @throws AuditUnavailableError when Temporal did
   * not accept the record (the caller must then not make the change).
   */
  async begin(
    jobId: string,
    action: AuditAction,
    by: AuditActor,
    request?: unknown,
    created?: AuditCreated,
  ): Promise<AuditRecord> {
    const id = randomUUID();
    const part = bounded(request);
    try {
      await this.deps.client.workflow.signalWithStart(AUDIT_WORKFLOW_TYPE, {
        workflowId: auditWorkflowId(jobId),
        taskQueue: this.deps.taskQueue,
        args: [{ jobId } satisfies AuditWorkflowInput],
        signal: auditBeginSignal,
        signalArgs: [
          {
            id,
            action,
            by,
            ...(part.value === undefined ? {} : { request: part.value }),
            ...(part.truncated ? { truncated: true } : {}),
            ...(created === undefined ? {} : { created }),
          },
        ],
      });
    } catch (err) {
      throw new AuditUnavailableError(jobId, { cause: err });
    }
    return {
      id,
      end: async (end) => {
        const diff = end.diff === null ? { value: null } : bounded(end.diff);
        const details = bounded(end.details);
        try {
          await this.deps.client.workflow.getHandle(auditWorkflowId(jobId)).signal(auditEndSignal, {
            id,
            outcome: end.outcome,
            status: end.status,
            ...(diff.value === undefined ? {} : { diff: diff.value }),
            ...(details.value === undefined ? {} : { details: details.value as Record<string, unknown> }),
            ...(diff.truncated || details.truncated ? { truncated: true } : {}),
          });
        } catch (err) {
          // The entry stays `pending`: recorded as attempted, its outcome unknown to the audit.
          this.deps.onEndFailed?.(jobId, err);
        }
      },
    };
  }

  /** A page of a job's entries, newest first; undefined when it has no audit entity. */
  async page(
    jobId: string,
    req: { pageSize: number; before?: number; hasId?: string },
  ): Promise<AuditPage | undefined> {
    try {
      return await this.deps.client.workflow.getHandle(auditWorkflowId(jobId)).query(auditPageQuery, req);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError || (err as { code?: unknown }).code === 5) return undefined;
      throw err;
    }
  }
}

/**
 * A job's creation as the audit lists it, from what the job's schedule recorded: the spec as
 * written then, redacted and bounded like any entry's diff.
 */
export function auditCreated(record: { id: string; by: AuditActor; at: string }, specAsWritten: unknown): AuditCreated {
  const diff = bounded(specAsWritten);
  return {
    id: record.id,
    by: record.by,
    at: record.at,
    ...(diff.value === undefined ? {} : { diff: diff.value }),
    ...(diff.truncated ? { truncated: true } : {}),
  };
}
