// Workflows registered with the worker.
export { releaseWorkflow } from './release';
export { firstNightWorkflow } from './first-night';
