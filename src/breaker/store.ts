import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { BREAKER_WORKFLOW_TYPE, breakerWorkflowId, forceOpenUpdate, resetUpdate, stateQuery, type BreakerView } from './contract';

/** No breaker entity with this key (no job has used it yet). */
export class BreakerNotFoundError extends Error {
  override readonly name = 'BreakerNotFoundError';
  constructor(readonly key: string) {
    super(`no breaker ${JSON.stringify(key)} (it appears when a job naming it first runs)`);
  }
}

/** Reads and steers the breaker entities for the API. */
export class BreakerStore {
  constructor(private readonly client: Client) {}

  private async call<T>(key: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError || (err as { code?: unknown }).code === 5) throw new BreakerNotFoundError(key);
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
    return this.call(key, () => this.client.workflow.getHandle(breakerWorkflowId(key)).executeUpdate(resetUpdate, { args: [{}] }));
  }

  async open(key: string): Promise<BreakerView> {
    return this.call(key, () => this.client.workflow.getHandle(breakerWorkflowId(key)).executeUpdate(forceOpenUpdate, { args: [{}] }));
  }

  async list(): Promise<BreakerView[]> {
    const keys: string[] = [];
    for await (const wf of this.client.workflow.list({ query: `WorkflowType = '${BREAKER_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'` })) {
      keys.push(wf.workflowId.slice('sundial-breaker:'.length));
    }
    const views = await Promise.all(keys.map((k) => this.find(k)));
    return views.filter((v): v is BreakerView => v !== undefined).sort((a, b) => a.key.localeCompare(b.key));
  }
}
