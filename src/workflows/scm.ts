// Freeze (T-30), freeze lift and tag (close-out) from the workflow's side. An
// SCM that stays down after the retries is recorded as failed and told to the
// humans; it never stops a release or its rollback.
import { ActivityFailure, proxyActivities } from '@temporalio/workflow';
import type { CloseoutActivities, ScmOutcome } from '../activities/closeout';
import { HEARTBEAT_TIMEOUT_MS, type ReleaseRun } from './run';

const acts = proxyActivities<CloseoutActivities>({
  startToCloseTimeout: '5m',
  heartbeatTimeout: HEARTBEAT_TIMEOUT_MS,
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 5 },
});

function scmFile(action: ScmOutcome['action'], version: string): string {
  return { freeze: `freeze_${version}.txt`, 'lift-freeze': `freeze_lift_${version}.txt`, tag: `git_tag_${version}.txt` }[action];
}

async function step(run: ReleaseRun, action: ScmOutcome['action'], call: (file: string) => Promise<ScmOutcome>): Promise<ScmOutcome> {
  const file = scmFile(action, run.plan.version);
  let outcome: ScmOutcome;
  try {
    outcome = await call(file);
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    outcome = { action, status: 'failed', summary: `${action}: FAILED after retries: ${err.cause?.message ?? err.message}`, at: new Date().toISOString(), file };
    run.record({ key: `scm/${action}/gave-up`, file: outcome.file, kind: 'document', body: `${outcome.at} ${outcome.summary}\n` });
  }
  run.status.scm = [...(run.status.scm ?? []), outcome];
  return outcome;
}

/** Labels every open pull request with the plan's hold label. */
export function applyFreeze(run: ReleaseRun): Promise<ScmOutcome> {
  return step(run, 'freeze', (file) => acts.applyFreeze({ ...run.ref, file, label: run.plan.scm.holdLabel }));
}

export function liftFreeze(run: ReleaseRun): Promise<ScmOutcome> {
  return step(run, 'lift-freeze', (file) => acts.liftFreeze({ ...run.ref, file, label: run.plan.scm.holdLabel }));
}

export function tagRelease(run: ReleaseRun, message: string): Promise<ScmOutcome> {
  const tag = run.plan.scm.tag.replaceAll('{version}', run.plan.version);
  return step(run, 'tag', (file) => acts.tagRelease({ ...run.ref, file, tag, commit: run.plan.commit, message }));
}
