/**
 * The reference of `npm run bench:runcost`: what a raw Temporal schedule runs when a team writes
 * the workflow itself, with no Sundial around it. Bundled by the bench's reference worker.
 */
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';

/** The reference's one activity: counts the run and returns. */
export interface RawActivities {
  tick(): Promise<void>;
}

const local = proxyLocalActivities<RawActivities>({ startToCloseTimeout: '10s' });
const regular = proxyActivities<RawActivities>({ startToCloseTimeout: '10s' });

/** One local activity: the goal's reference. */
export async function rawLocalWorkflow(): Promise<void> {
  await local.tick();
}

/** One regular activity, as Sundial's default run has. */
export async function rawActivityWorkflow(): Promise<void> {
  await regular.tick();
}
