/** No run with this workflow id (and run id). */
export class RunNotFoundError extends Error {
  override readonly name = 'RunNotFoundError';
  constructor(readonly workflowId: string) {
    super(`no run ${JSON.stringify(workflowId)}`);
  }
}
