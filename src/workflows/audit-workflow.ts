import { condition, continueAsNew, setHandler, workflowInfo } from '@temporalio/workflow';
import {
  AUDIT_KEEP_AFTER_DELETE_MS,
  auditBeginSignal,
  auditEndSignal,
  auditPageQuery,
  MAX_AUDIT_CHARS,
  MAX_AUDIT_ENTRIES,
  createdEntry,
  type AuditEntry,
  type AuditPage,
} from '../audit/contract';
import { workflowNow } from './clock';

export interface AuditWorkflowInput {
  readonly jobId: string;
  /** Carried over continue-as-new. */
  readonly entries?: AuditEntry[];
  readonly nextSeq?: number;
  readonly dropped?: number;
  /** The id of the last job creation taken in (it may since have been dropped): never taken twice. */
  readonly createdId?: string;
  /** @default AUDIT_KEEP_AFTER_DELETE_MS */
  readonly keepAfterDeleteMs?: number;
}

/** Signals handled before the history is trimmed with continue-as-new. */
const EVENTS_BEFORE_CONTINUE = 500;

/**
 * The audit of one job: a long-lived entity that records every change made to it over the API.
 * Writes are signals (durable once Temporal accepts them, whether or not a worker is up), each
 * change twice: before it is made (`pending`) and when it has been made or refused. Entries are
 * deduplicated by the id the API gave them, bounded in number and size (oldest dropped first,
 * and counted), and read with a query. Once the job is deleted (or if no change was ever
 * applied), the entity ends after AUDIT_KEEP_AFTER_DELETE_MS without a new change.
 */
export async function auditWorkflow(input: AuditWorkflowInput): Promise<void> {
  const entries: AuditEntry[] = [...(input.entries ?? [])];
  let nextSeq = input.nextSeq ?? 1;
  let dropped = input.dropped ?? 0;
  let createdId = input.createdId;
  let handled = 0;
  const keepMs = input.keepAfterDeleteMs ?? AUDIT_KEEP_AFTER_DELETE_MS;
  // Each entry's size (JSON characters), by seq; not carried over continue-as-new.
  const sizes = new Map<number, number>();
  const sizeOf = (e: AuditEntry): number => {
    let n = sizes.get(e.seq);
    if (n === undefined) {
      n = JSON.stringify(e).length;
      sizes.set(e.seq, n);
    }
    return n;
  };
  const bound = (): void => {
    let total = entries.reduce((sum, e) => sum + sizeOf(e), 0);
    // The newest entry is always kept: each part of it is bounded by the API (MAX_ENTRY_PART_CHARS).
    while (entries.length > 1 && (entries.length > MAX_AUDIT_ENTRIES || total > MAX_AUDIT_CHARS)) {
      const first = entries.shift()!;
      total -= sizeOf(first);
      sizes.delete(first.seq);
      dropped++;
    }
  };
  bound();

  setHandler(auditBeginSignal, (b) => {
    handled++;
    // The job's creation, recorded with the job, goes first (once): it happened before this change.
    if (b.created !== undefined && b.created.id !== createdId && !entries.some((e) => e.id === b.created!.id)) {
      entries.push(createdEntry(b.created, nextSeq++));
      createdId = b.created.id;
    }
    if (entries.some((e) => e.id === b.id)) {
      bound();
      return;
    }
    const at = new Date(workflowNow()).toISOString();
    entries.push({
      seq: nextSeq++,
      id: b.id,
      action: b.action,
      by: b.by,
      at,
      outcome: 'pending',
      ...(b.request === undefined ? {} : { request: b.request }),
      ...(b.truncated === true ? { truncated: true } : {}),
    });
    bound();
  });
  setHandler(auditEndSignal, (end) => {
    handled++;
    const i = entries.findIndex((e) => e.id === end.id);
    const entry = entries[i];
    if (entry === undefined || entry.outcome !== 'pending') return;
    sizes.delete(entry.seq);
    entries[i] = {
      ...entry,
      outcome: end.outcome,
      status: end.status,
      completedAt: new Date(workflowNow()).toISOString(),
      ...(end.diff === undefined ? {} : { diff: end.diff }),
      ...(end.details === undefined ? {} : { details: end.details }),
      ...(end.truncated === true || entry.truncated === true ? { truncated: true } : {}),
    };
    bound();
  });
  setHandler(auditPageQuery, (req): AuditPage => {
    const older = req.before === undefined ? entries : entries.filter((e) => e.seq < req.before!);
    const items = older.slice(-Math.max(1, req.pageSize)).reverse();
    const last = items[items.length - 1];
    return {
      items,
      nextBefore: last !== undefined && older.length > items.length ? last.seq : null,
      dropped,
      ...(req.hasId === undefined ? {} : { hasId: req.hasId === createdId || entries.some((e) => e.id === req.hasId) }),
    };
  });

  // The job is gone when the last change applied to it deleted it, or none was ever applied.
  const gone = (): boolean => {
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i]!;
      if (e.outcome === 'applied') return e.action === 'delete';
    }
    return true;
  };
  const due = (): boolean => handled >= EVENTS_BEFORE_CONTINUE || workflowInfo().continueAsNewSuggested;
  while (!due()) {
    const seen = handled;
    if (gone()) {
      if (!(await condition(() => handled !== seen, keepMs))) return;
    } else {
      await condition(() => handled !== seen);
    }
  }
  await continueAsNew<typeof auditWorkflow>({
    jobId: input.jobId,
    entries,
    nextSeq,
    dropped,
    keepAfterDeleteMs: keepMs,
    ...(createdId === undefined ? {} : { createdId }),
  });
}
