import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import {
  BREAKER_WORKFLOW_TYPE,
  breakerWorkflowId,
  forceOpenUpdate,
  resetUpdate,
  stateQuery,
  type BreakerView,
} from './contract';

/** No breaker entity with this key (no job has used it yet). */
export class BreakerNotFoundError extends Error {
  override readonly name = 'BreakerNotFoundError';
  constructor(readonly key: string) {
    super(`no breaker ${JSON.stringify(key)} (it appears when a job naming it first runs)`);
  }
}

/** The visibility query for every breaker entity. */
const RUNNING_BREAKERS = `WorkflowType = '${BREAKER_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'`;

const keyOf = (workflowId: string): string => workflowId.slice(breakerWorkflowId('').length);

/** Reads and steers the breaker entities for the API. */
export class BreakerStore {
  constructor(private readonly client: Client) {}

  private async call<T>(key: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError || (err as { code?: unknown }).code === 5)
        throw new BreakerNotFoundError(key);
      throw err;
    }
  }

  async get(key: string): Promise<BreakerView> {
    return this.call(key, () => this.client.workflow.getHandle(breakerWorkflowId(key)).query(stateQuery));
  }

  /** The breaker's state, or undefined when it has never been used. */
  async find(key: string): Promise<BreakerView | undefined> {
    try {
      return await this.get(key);
    } catch (err) {
      if (err instanceof BreakerNotFoundError) return undefined;
      throw err;
    }
  }

  async reset(key: string): Promise<BreakerView> {
    return this.call(key, () =>
      this.client.workflow.getHandle(breakerWorkflowId(key)).executeUpdate(resetUpdate, { args: [{}] }),
    );
  }

  async open(key: string): Promise<BreakerView> {
    return this.call(key, () =>
      this.client.workflow.getHandle(breakerWorkflowId(key)).executeUpdate(forceOpenUpdate, { args: [{}] }),
    );
  }

  async list(): Promise<BreakerView[]> {
    const keys: string[] = [];
    for await (const wf of this.client.workflow.list({ query: RUNNING_BREAKERS })) keys.push(keyOf(wf.workflowId));
    const views = await Promise.all(keys.map((k) => this.find(k)));
    return views.filter((v): v is BreakerView => v !== undefined).sort((a, b) => a.key.localeCompare(b.key));
  }

  /** One page of the keys of every breaker entity, from visibility (no query to the entities). */
  async keysPage(opts: {
    pageSize: number;
    pageToken?: Uint8Array;
  }): Promise<{ keys: string[]; nextPageToken: Uint8Array | undefined }> {
    const res = await this.client.workflowService.listWorkflowExecutions({
      namespace: this.client.options.namespace,
      query: RUNNING_BREAKERS,
      pageSize: opts.pageSize,
      ...(opts.pageToken === undefined ? {} : { nextPageToken: opts.pageToken }),
    });
    const keys = (res.executions ?? []).flatMap((e) =>
      e.execution?.workflowId ? [keyOf(e.execution.workflowId)] : [],
    );
    const token = res.nextPageToken;
    return { keys, nextPageToken: token && token.length > 0 ? token : undefined };
  }
}
