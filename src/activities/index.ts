import type { EgressPolicy } from '../egress/policy';
import type { JobRegistry } from '../jobs/registry';
import type { Logger } from '../observability/logger';
import { makeBreakerActivities } from './breaker';
import { makeRunCodeTask } from './code-task';
import { makeRunHttpTask } from './http-task';

export interface ActivityDeps {
  readonly registry: JobRegistry;
  readonly logger: Logger;
  /** Sent as User-Agent by the HTTP task; names the worker so a dependency can tell callers apart. */
  readonly userAgent: string;
  /** Where the HTTP task may connect. */
  readonly egress: EgressPolicy;
}

/** All of Sundial's activities, built over their dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    runCodeTask: makeRunCodeTask(deps.registry, deps.logger),
    runHttpTask: makeRunHttpTask(deps.logger, deps.userAgent, deps.egress),
    ...makeBreakerActivities(),
  };
}
