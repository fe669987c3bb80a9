// After the GO gate closes: the signed GO/NO-GO record (activities/ritual.ts).
import { ActivityFailure, proxyActivities } from '@temporalio/workflow';
import type { RitualActivities } from '../activities/ritual';
import { HEARTBEAT_TIMEOUT_MS, type ReleaseRun } from './run';

const acts = proxyActivities<RitualActivities>({
  startToCloseTimeout: '1m',
  heartbeatTimeout: HEARTBEAT_TIMEOUT_MS,
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
});

/** Seals the closed gate's checklist and decisions; a record that cannot be written is noted, never blocks. */
export async function sealGoNoGo(run: ReleaseRun): Promise<void> {
  // The decision lines go first: the signed record follows them in go_nogo_signed_<v>.txt.
  await run.flush();
  try {
    const sealed = await acts.sealGoNoGo({ ...run.ref, commit: run.plan.commit, initiator: run.input.initiator, gate: run.status.gates.go });
    run.timeline(sealed.signed ? `GO/NO-GO record signed by ${sealed.keyid}` : `GO/NO-GO record NOT SIGNED: ${sealed.problem}`, 'go-no-go/sealed');
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    run.timeline(`GO/NO-GO record not written: ${err.cause?.message ?? err.message}`, 'go-no-go/sealed');
  }
}
