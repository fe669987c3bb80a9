// The run-of-show of one release, T-30 to T+24h (spec section 1).
import {
  ApplicationFailure, CancellationScope, condition, isCancellation, setHandler,
} from '@temporalio/workflow';
import { CHECK_CATALOGUE, type CheckPhase } from '../plan/catalogue';
import type { Phase, ReleasePlan } from '../plan/schema';
import type { CheckContext } from '../activities/types';
import { targetContext } from '../plan/target';
import { runCanary } from './canary';
import { renderCanaryQueries } from './canary-judgment';
import { buildChecklist } from './checklist';
import { closeOut } from './close-out';
import { watchFirstNight } from './first-night';
import {
  abortSignal, decideGateUpdate, holdSignal, resumeSignal, statusQuery,
  type DecisionRecord, type GateDecisionResult, type ReleaseStatus, type Verdict,
} from './messages';
import { registerRisksUpdate } from './risks';
import { registerRedTeamGate, runRedTeamGate } from './redteam-gate';
import { ReleaseRun, type ReleaseInput } from './run';
import { applyFreeze } from './scm';
import { planRefusals } from './allowed';
import { adoptRegistry, checkSigned, markUsed } from './identity';
import { sealGoNoGo } from './go-nogo';
import { anchorsApply, takeAnchor } from './anchor';
import { awaitGate, registerHumanControl, settlePrompts, startPromptKeeper } from './human-control';
import { checkCommander, checkGateDecision, claimedSender, commandContextOf, parseControl, parseGateDecision, quote, RefusedError } from './validate';
import { keepVisible, timerSummary } from './visibility';

export type { ReleaseInput } from './run';

export interface ReleaseResult {
  release: string;
  runId: string;
  verdict: Verdict;
  reason: string;
  canaryWeight: number;
  evidenceFiles: number;
  /** The final status: `status` of an ended release reads it without a worker. */
  status?: ReleaseStatus;
}

const TIMELINE_KEY: Record<Exclude<Phase, 'canary' | 'first-night' | 'close-out'>, keyof ReleasePlan['timeline']> = {
  freeze: 'freeze',
  'war-room': 'warRoom',
  preflight: 'preflight',
  'blast-radius': 'blastRadius',
  'red-team': 'redTeam',
  'green-button': 'greenButton',
  'go-no-go': 'goNoGo',
};

export async function releaseWorkflow(input: ReleaseInput): Promise<ReleaseResult> {
  const { plan } = input;
  const run = new ReleaseRun(plan, input);
  const { status } = run;
  run.publishVisibility = keepVisible(status, plan, input.searchAttributes ?? false);
  const people = new Set(plan.people.map((p) => p.id));

  setHandler(statusQuery, () => status);
  setHandler(
    decideGateUpdate,
    (raw): GateDecisionResult => {
      const d = parseGateDecision(raw);
      const gate = status.gates[d.gate];
      const record: DecisionRecord = {
        kind: 'gate', gate: d.gate, decision: d.decision, by: d.approver, reason: d.reason,
        at: new Date().toISOString(), release: d.release, runId: d.runId, accepted: true,
        ...(d.override ? { override: true } : {}),
        ...(d.signature ? { signature: d.signature } : {}),
      };
      markUsed(run, d.signature);
      gate.decisions.push(record);
      status.decisions.push(record);
      const approvals = gate.decisions.filter((x) => x.accepted && x.decision === 'go').length;
      if (d.decision === 'no-go') gate.state = 'no-go';
      else if (approvals >= gate.quorum) gate.state = 'go';
      if (gate.state !== 'open') gate.closedAt = record.at;
      run.record({
        key: `gate/${d.gate}/decision/${gate.decisions.length}`, file: `go_nogo_signed_${plan.version}.txt`, kind: 'gate', mode: 'append',
        body: `${record.at} ${d.decision.toUpperCase()} by ${d.approver}${d.override ? ' (override of an incomplete checklist)' : ''}${d.signature ? ` (signed at ${d.at}: ${d.signature})` : ''} for ${d.release} run ${d.runId} gate ${d.gate}: ${d.reason}`,
      });
      return { gate: d.gate, state: gate.state, recorded: record };
    },
    {
      validator: (raw) => {
        const d = parseGateDecision(raw);
        const gate = status.gates[d.gate];
        // Who it is from before what it may do.
        checkSigned(run, { release: d.release, runId: d.runId, target: d.gate, decision: d.decision, by: d.approver, reason: d.reason, at: d.at ?? '' }, d.signature, 'approver');
        checkGateDecision(d, {
          release: status.release,
          runId: status.runId,
          openGate: gate.state === 'open' ? d.gate : null,
          approvers: plan.gates[d.gate].approvers,
          initiator: input.initiator,
          allowInitiator: plan.gates[d.gate].allowInitiator,
          alreadyDecidedBy: gate.decisions.filter((x) => x.accepted).map((x) => x.by),
          checklistComplete: gate.checklist.length > 0 && gate.checklist.every((i) => i.ok),
        });
      },
    },
  );
  // Signals cannot be refused synchronously: a refused one is recorded and does nothing.
  const control = (kind: 'abort' | 'hold' | 'resume', apply: (c: { by: string; reason: string }) => void) => (raw: unknown) => {
    const at = new Date().toISOString();
    let record: DecisionRecord;
    try {
      const c = parseControl(raw);
      if (!people.has(c.by)) throw new RefusedError(`by: ${quote(c.by)} is not a person of this release's plan`);
      // Hold and resume are the incident commander's, from the Temporal UI as from the CLI and Slack.
      if (kind !== 'abort') checkCommander(c.by, `${kind} the canary`, commandContextOf(status, plan));
      if (status.verdict !== 'running') throw new RefusedError(`the release has already ended (${status.verdict})`);
      record = { kind, by: c.by, reason: c.reason, at, release: status.release, runId: status.runId, accepted: true };
      apply(c);
    } catch (err) {
      record = { kind, by: claimedSender(raw), reason: '', at, release: status.release, runId: status.runId, accepted: false, refusal: (err as Error).message };
    }
    status.decisions.push(record);
    run.record({
      key: `control/${status.decisions.length}`, file: 'decisions.txt', kind: 'decision', mode: 'append',
      body: `${at} ${kind} by ${record.by}: ${record.accepted ? record.reason : `REFUSED (${record.refusal})`}`,
    });
  };
  setHandler(abortSignal, control('abort', (c) => { run.abortRequested ??= c; }));
  setHandler(holdSignal, control('hold', (c) => { run.holdRequested = c; status.held = true; }));
  setHandler(resumeSignal, control('resume', () => { run.holdRequested = null; status.held = false; }));
  registerRisksUpdate(run);
  registerRedTeamGate(run);
  registerHumanControl(run);
  startPromptKeeper(run);

  // T is the start of canary stage 1; the run starts at the freeze offset before it.
  const t0 = Date.now() - plan.timeline.freeze;
  let verdictReason = '';

  const enter = async (phase: Phase) => {
    const prev = status.phases.find((p) => p.state === 'running');
    if (prev) {
      prev.state = 'done';
      prev.endedAt = new Date().toISOString();
    }
    if (phase !== 'canary' && phase !== 'first-night' && phase !== 'close-out') {
      const at = t0 + plan.timeline[TIMELINE_KEY[phase]];
      const wait = at - Date.now();
      if (wait > 0) await condition(() => run.abortRequested !== null, wait, timerSummary.phase(phase, at - t0));
    }
    if (run.abortRequested) throw new AbortRelease();
    status.phase = phase;
    const record = status.phases.find((p) => p.phase === phase)!;
    record.state = 'running';
    record.startedAt = new Date().toISOString();
    run.timeline(`phase ${phase} started`, `${phase}/start`);
  };

  const checksOf = async (phases: CheckPhase[], context: CheckContext) => {
    const batches = await Promise.all(
      phases.map((phase) =>
        plan.checks[phase].length === 0
          ? Promise.resolve([])
          : run.activities.runChecks({ ...run.ref, phase, checks: plan.checks[phase], timeoutMs: plan.checks.timeout, context }),
      ),
    );
    const results = batches.flat();
    status.checks.push(...results.map(({ data: _data, ...r }) => r));
    const summary = results.reduce<Record<string, number>>((acc, r) => ({ ...acc, [r.status]: (acc[r.status] ?? 0) + 1 }), {});
    const entry = status.phases.find((p) => p.phase === status.phase);
    if (entry) entry.summary = Object.entries(summary).map(([k, v]) => `${v} ${k}`).join(', ');
    return results;
  };

  // Before the canary takes traffic, the baseline is what stable serves.
  const stableQueries = renderCanaryQueries(plan, 'stable');
  const context: CheckContext = {
    signalQueries: Object.fromEntries(plan.signals.map((s) => [s.id, { query: stableQueries.byId[s.id]!, scale: s.scale, unit: s.unit }])),
    traffic: plan.traffic,
    initiator: input.initiator,
    commit: plan.commit,
    canaryPlan: describeCanaryPlan(plan),
    limits: plan.checks.limits,
    expectedTargets: plan.metrics.expectedTargets,
    ritual: plan.ritual,
    target: targetContext(plan),
  };
  // Before any other activity: the plan may name only what the worker's configuration allows.
  const allowed = await run.activities.workerAllowances();
  adoptRegistry(run, allowed);
  const refused = planRefusals(plan, allowed);
  if (refused.length > 0) {
    throw ApplicationFailure.nonRetryable(`plan refused by the worker's configuration: ${refused.join('; ')}`, 'PlanRefused');
  }
  // The plan as this release runs it: `evidence verify` reads from it which files the release owes.
  run.record({ key: 'plan', file: `release_plan_${plan.version}.json`, kind: 'document', body: `${JSON.stringify(plan, null, 2)}\n` });

  try {
    await enter('freeze');
    const freeze = await applyFreeze(run);
    await run.announce('deploys', `Change freeze for ${plan.service} ${plan.version}: open pull requests are held (${plan.scm.holdLabel}) until the release closes (${freeze.summary}). Initiated by ${input.initiator}.`, 'freeze');

    await enter('war-room');
    status.warRoomOpened = await run.announce('warRoom', `War-room open for ${plan.service} ${plan.version}. Incident commander: ${plan.incidentCommander}. Signal only; pager in yellow (high alert).`, 'war-room');

    await enter('preflight');
    const preflight = await checksOf(['preflight', 'blindSpots'], context);
    const baseline = preflight.find((r) => r.id === 'baseline-metrics');
    run.baseline = baseline?.data ?? {};
    context.baseline = run.baseline;
    context.blindSpots = preflight.filter((r) => r.phase === 'blindSpots').map(({ data: _data, ...r }) => r);

    await enter('blast-radius');
    await checksOf(['blastRadius'], context);
    await enter('red-team');
    await checksOf(['redTeam'], context);
    await runRedTeamGate(run);
    await enter('green-button');
    await checksOf(['greenButton'], context);
    await run.flush();

    await enter('go-no-go');
    const gate = status.gates.go;
    const weightNow = await run.activities.readCanaryWeight({ traffic: plan.traffic, dryRun: status.dryRun });
    gate.checklist = buildChecklist(plan, status, weightNow);
    gate.state = 'open';
    gate.openedAt = new Date().toISOString();
    gate.deadline = new Date(Date.now() + plan.gates.go.timeout).toISOString();
    // The prompt keeper posts the GO/NO-GO prompt (with buttons) to the war-room.
    const decided = await awaitGate(run, 'go', timerSummary.gate(plan));
    if (run.abortRequested) throw new AbortRelease();
    if (!decided) {
      gate.state = 'timed-out';
      gate.closedAt = new Date().toISOString();
      const record: DecisionRecord = {
        kind: 'timeout', gate: 'go', decision: 'no-go', by: 'spark-release', reason: `no decision within ${plan.gates.go.timeout / 1000}s`,
        at: gate.closedAt, release: status.release, runId: status.runId, accepted: true,
      };
      status.decisions.push(record);
      run.record({ key: 'gate/go/timeout', file: `go_nogo_signed_${plan.version}.txt`, kind: 'gate', mode: 'append', body: `${record.at} NO-GO (timeout): ${record.reason}` });
    }
    await sealGoNoGo(run);
    const gateState: string = gate.state;
    if (gateState !== 'go') {
      verdictReason = gateState === 'timed-out' ? 'GO/NO-GO timed out: NO-GO' : `NO-GO by ${gate.decisions.at(-1)?.by}: ${gate.decisions.at(-1)?.reason}`;
      return await finish(run, 'no-go', verdictReason);
    }

    await enter('canary');
    const canary = await runCanary(run);
    if (canary.kind === 'rollback') {
      await CancellationScope.nonCancellable(() => run.rollback(canary.reason, canary.cause));
      await run.announce('warRoom', `ROLLBACK of ${plan.version}: ${canary.reason}. Traffic at 0%. Evidence: ${status.rollback?.evidence.join(', ')}`, 'rollback');
      return await finish(run, canary.cause === 'abort' ? 'aborted' : 'rolled-back', canary.reason);
    }

    await enter('first-night');
    const watch = await watchFirstNight(run);
    if (watch.kind === 'aborted') throw new AbortRelease();
    if (watch.kind === 'rollback') {
      run.queue(watch.pending ?? []);
      await CancellationScope.nonCancellable(() => run.rollback(watch.reason, watch.cause));
      await run.announce('warRoom', `ROLLBACK of ${plan.version} during the first night: ${watch.reason}`, 'rollback');
      return await finish(run, 'rolled-back', watch.reason);
    }

    await enter('close-out');
    if (watch.unverified) {
      await run.page(`${plan.version} is at 100% but its first night is unverified: ${watch.unverified}`, 'first-night/unverified');
      return await finish(run, 'released-unverified', `reached 100%; first night unverified: ${watch.unverified}`);
    }
    return await finish(run, 'released', `reached 100% and watched ${watch.summary.checks.length} first-night checks`);
  } catch (err) {
    if (err instanceof AbortRelease || isCancellation(err)) {
      const by = run.abortRequested ? `aborted by ${run.abortRequested.by}: ${run.abortRequested.reason}` : 'workflow cancelled';
      await CancellationScope.nonCancellable(async () => {
        if (status.canaryWeight > 0 || status.phase === 'canary' || status.phase === 'first-night') await run.rollback(by, 'abort');
        await finish(run, 'aborted', by);
      });
      if (isCancellation(err)) throw err;
      return result(run, 'aborted', by);
    }
    // An error the workflow cannot absorb must not leave traffic on the new version.
    if (status.canaryWeight > 0 || status.phase === 'canary' || status.phase === 'first-night') {
      const why = `the release failed: ${(err as Error).message}`;
      await CancellationScope.nonCancellable(() => run.rollback(why, 'workflow-error'));
      await run.announce('warRoom', `ROLLBACK of ${plan.version}: ${why}. Traffic at 0%.`, 'rollback');
      return await finish(run, 'rolled-back', why);
    }
    throw err;
  }
}

class AbortRelease extends Error {}

function result(run: ReleaseRun, verdict: Verdict, reason: string): ReleaseResult {
  return {
    release: run.status.release, runId: run.status.runId, verdict, reason,
    canaryWeight: run.status.canaryWeight, evidenceFiles: 0, status: { ...run.status, verdict, phase: 'done' },
  };
}

async function finish(run: ReleaseRun, verdict: Verdict, reason: string): Promise<ReleaseResult> {
  const { status } = run;
  await closeOut(run, verdict, reason);
  status.verdict = verdict;
  for (const p of status.phases) {
    if (p.state === 'running') { p.state = verdict === 'released' || verdict === 'released-unverified' ? 'done' : 'failed'; p.endedAt = new Date().toISOString(); }
    else if (p.state === 'pending') p.state = 'skipped';
  }
  status.phase = 'done';
  run.timeline(`release ended: ${verdict} (${reason})`, 'end');
  run.record({
    key: 'verdict', file: `verdict_${run.plan.version}.txt`, kind: 'decision',
    body: `release: ${status.release}\nrun: ${status.runId}\nverdict: ${verdict}\nreason: ${reason}\ncanary weight: ${status.canaryWeight}%\n`,
  });
  await settlePrompts(run);
  await run.flush({ mustLand: true });
  // Last: over every record of the release, published in the anchors file and the result.
  if (anchorsApply()) await takeAnchor(run, 'end', { record: false });
  run.publishVisibility();
  return result(run, verdict, reason);
}

function describeCanaryPlan(plan: ReleasePlan): string {
  const lines = [`${plan.service} ${plan.version} canary plan`, '', 'stage | traffic | duration'];
  plan.canary.stages.forEach((s, i) => lines.push(`${i + 1} | ${s.traffic}% | ${s.duration / 1000}s`));
  lines.push('', `evaluation every ${plan.canary.evaluationInterval / 1000}s; a stage that is not clean holds ${plan.canary.badTrendHold / 1000}s, then rolls back`);
  lines.push('', 'signal | pass when');
  for (const s of plan.signals) lines.push(`${s.title} | ${s.pass.comparator} ${s.pass.relativeTo ? `baseline + ${s.pass.value}% (floor ${s.pass.floor ?? 'none'})` : s.pass.value}${s.unit}`);
  lines.push('', 'trigger | fires when | action');
  for (const t of plan.triggers) lines.push(`${t.title} | ${t.comparator} ${t.threshold} for ${t.for / 1000}s | ${t.action}`);
  lines.push('', `checks: ${Object.values(plan.checks).flat().filter((c) => typeof c === 'string' && CHECK_CATALOGUE[c]).length}`);
  return lines.join('\n') + '\n';
}
