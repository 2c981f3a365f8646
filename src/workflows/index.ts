/**
 * The workflows module the worker bundles. Deterministic code only: no I/O, no Node built-ins;
 * activities are imported as types. A multi-step job's own workflow is exported from here too.
 */
export { jobWorkflow } from './job-workflow';
export { httpSequenceWorkflow } from './jobs/http-sequence';
export { breakerWorkflow } from './breaker-workflow';
export { auditWorkflow } from './audit-workflow';
export { notifyStateWorkflow, notifyWorkflow } from './notify-workflow';
