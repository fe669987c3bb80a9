// After the GO gate closes: the ledger anchor over the decision, the signed
// GO/NO-GO record (activities/ritual.ts) and the war-room's word of the outcome.
import { ActivityFailure, proxyActivities } from '@temporalio/workflow';
import type { RitualActivities } from '../activities/ritual';
import { anchorsApply, anchorText, takeAnchor } from './anchor';
import { HEARTBEAT_TIMEOUT_MS, type ReleaseRun } from './run';

const acts = proxyActivities<RitualActivities>({
  startToCloseTimeout: '1m',
  heartbeatTimeout: HEARTBEAT_TIMEOUT_MS,
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
});

/** Anchors and seals the closed gate's checklist and decisions; what cannot be written is noted, never blocks. */
export async function sealGoNoGo(run: ReleaseRun): Promise<void> {
  // The decision lines go first (the anchor flushes them): the signed record follows them in go_nogo_signed_<v>.txt.
  const gate = run.status.gates.go;
  const anchored = anchorsApply();
  let anchor: string | undefined;
  if (anchored) anchor = anchorText(await takeAnchor(run, gate.id));
  else await run.flush();
  try {
    const sealed = await acts.sealGoNoGo({ ...run.ref, commit: run.plan.commit, initiator: run.input.initiator, gate, anchor });
    run.timeline(sealed.signed ? `GO/NO-GO record signed by ${sealed.keyid}` : `GO/NO-GO record NOT SIGNED: ${sealed.problem}`, 'go-no-go/sealed');
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    run.timeline(`GO/NO-GO record not written: ${err.cause?.message ?? err.message}`, 'go-no-go/sealed');
  }
  if (anchored) await run.announce('warRoom', `GO/NO-GO of ${run.plan.service} ${run.plan.version} closed: ${gate.state.toUpperCase()}. ${anchor}`, 'go-no-go');
}
