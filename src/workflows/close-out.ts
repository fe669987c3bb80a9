// Close-out (spec section 9), at every end of a release: lift the freeze, anchor
// the ledger, tag a released version (the anchor in its annotation), write the
// documents the facts allow (released and rolled-back releases alike), and tell
// #deploys what was done.
import { anchorsApply, anchorText, takeAnchor } from './anchor';
import { closeOutDocuments, oneLiner } from './documents';
import type { Verdict } from './messages';
import { closeRisks } from './risks';
import type { ReleaseRun } from './run';
import { liftFreeze, tagRelease } from './scm';

export async function closeOut(run: ReleaseRun, verdict: Verdict, reason: string): Promise<void> {
  const { plan, status } = run;
  const facts = () => ({ plan, status, verdict, reason, baseline: run.baseline });
  const lift = await liftFreeze(run);
  const anchor = anchorsApply() ? anchorText(await takeAnchor(run, 'close-out')) : null;
  const tag = verdict === 'released' ? await tagRelease(run, anchor ? `${oneLiner(facts())}\n\n${anchor}` : oneLiner(facts())) : null;
  // The notes are rendered now: later risk updates could not reach them.
  closeRisks(run);
  for (const doc of closeOutDocuments(facts())) run.record({ ...doc, kind: 'document' });
  const headline = verdict === 'released'
    ? `${plan.service} ${plan.version} released: ${status.stages.length} stages passed, rollback=0, first night ${status.firstNight?.checks.length ?? 0} checks.`
    : `${plan.service} ${plan.version} closed: ${verdict} (${reason}).`;
  await run.announce('deploys', `${headline} Freeze lift: ${lift.summary}.${tag ? ` Tag: ${tag.summary}.` : ''}${anchor ? ` ${anchor}` : ''}`, 'close-out');
}
