// Ledger anchors from the workflow's side: at the GO/NO-GO gate, at close-out and
// at the very end, the worker signs the ledger's head (src/activities/anchor.ts);
// the workflow only asks, publishes what it got and records it under
// `anchor/<name>` (what `evidence verify` reads back). An anchor that cannot be
// taken is noted and never holds up the release or its rollback.
import { ActivityFailure, patched, proxyActivities } from '@temporalio/workflow';
import type { AnchorActivities, AnchorResult } from '../activities/anchor';
import { HEARTBEAT_TIMEOUT_MS, type ReleaseRun } from './run';

/**
 * Releases started before anchors existed take none (docs/reliability.md, "Changing workflow
 * code"): their histories have no anchor activities, so replaying them must not ask for one.
 */
export const anchorsApply = (): boolean => patched('ledger-anchors');

const acts = proxyActivities<AnchorActivities>({
  startToCloseTimeout: '1m',
  heartbeatTimeout: HEARTBEAT_TIMEOUT_MS,
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
});

/**
 * Flushes the queued evidence and anchors the head. `record: false` (the end)
 * records nothing after the anchor, so that it covers the whole ledger.
 */
export async function takeAnchor(run: ReleaseRun, name: string, opts: { record?: boolean } = {}): Promise<AnchorResult> {
  await run.flush();
  let anchor: AnchorResult;
  try {
    anchor = await acts.anchorLedger({ release: run.ref.release, runId: run.ref.runId, name, at: new Date().toISOString() });
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    anchor = { taken: false, name, problem: `the activity failed after its retries: ${err.cause?.message ?? err.message}` };
  }
  run.status.anchors = [...(run.status.anchors ?? []), anchor];
  if (opts.record !== false) {
    run.record({
      key: anchor.taken ? `anchor/${name}` : `anchor/${name}/not-taken`, file: `timeline_${run.plan.version}.txt`, kind: 'phase', mode: 'append',
      body: `${new Date().toISOString()} ${anchorText(anchor)}`,
    });
  }
  return anchor;
}

/** What a message, record or tag says of an anchor: the signed line itself, which `evidence verify --anchors` reads. */
export function anchorText(anchor: AnchorResult): string {
  return anchor.taken
    ? `Ledger anchored at seq ${anchor.seq} (${anchor.name}), signed by ${anchor.keyid}: ${anchor.line}`
    : `Ledger NOT anchored (${anchor.name}): ${anchor.problem}`;
}
