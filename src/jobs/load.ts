import path from 'node:path';
import type { DefinedJob } from './define';

/** A jobs module exports its jobs as `jobs` or as the default export: an array or a function returning one. */
type JobsExport = DefinedJob[] | ((ctx: { apiUrl: string }) => DefinedJob[]);

export class JobsModuleError extends Error {
  override readonly name = 'JobsModuleError';
}

/**
 * Loads the user's jobs from `SUNDIAL_JOBS_MODULE` (a path, relative to the working directory).
 * @throws JobsModuleError when it cannot be loaded or exports no jobs.
 */
export function loadJobsModule(modulePath: string, ctx: { apiUrl: string }): DefinedJob[] {
  const resolved = path.resolve(modulePath);
  let mod: { jobs?: JobsExport; default?: JobsExport };
  try {
     
    mod = require(resolved) as typeof mod;
  } catch (err) {
    throw new JobsModuleError(`SUNDIAL_JOBS_MODULE: cannot load ${resolved}: ${(err as Error).message}`);
  }
  const exported = mod.jobs ?? mod.default;
  const jobs = typeof exported === 'function' ? exported(ctx) : exported;
  if (!Array.isArray(jobs)) throw new JobsModuleError(`SUNDIAL_JOBS_MODULE: ${resolved} exports no \`jobs\` array (or function returning one)`);
  return jobs;
}
