import type { Worker } from '@temporalio/worker';
import { createSundialWorker, type SundialWorkerOptions } from '../worker/worker';

/** A Sundial worker running in this process. */
export interface RunningWorker {
  readonly worker: Worker;
  /** Shuts the worker down (running attempts get the shutdown grace) and waits until it has stopped. */
  stop(): Promise<void>;
}

/** Creates a Sundial worker and runs it in this process until `stop()`. */
export async function startWorker(opts: SundialWorkerOptions): Promise<RunningWorker> {
  const worker = await createSundialWorker(opts);
  const running = worker.run();
  return {
    worker,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    },
  };
}
