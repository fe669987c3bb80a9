// Runs releases while killing their worker (SIGKILL) at chosen points, restarts
// it, and checks the invariants once each release has ended. A kill point is a
// moment of the release (a phase, a stage, the open gate, a requested rollback)
// plus a random delay, or an exact moment: right after the router accepted a
// weight or the ledger committed a record, before the worker could report it.
import { setTimeout as sleep } from 'node:timers/promises';
import { temporal } from '@temporalio/proto';
import { PHASES, type Phase } from '../../../src/plan/schema';
import type { ReleaseStatus, Verdict } from '../../../src/workflows/messages';
import { CRASH_PLAN_OVERRIDES, type ChaosEnv } from './chaos-env';
import { collectFacts } from './facts';
import { checkRelease, type ReleaseFacts, type Violation } from './invariants';
import type { WeightChangeSeen } from './weight-recorder';
import type { WorkerProcess } from './worker-process';

export type Trigger =
  | { on: 'phase'; phase: Phase }
  | { on: 'stage'; index: number }
  | { on: 'gate-open' }
  | { on: 'abort-sent' }
  | { on: 'rollback-requested' }
  /** The router accepted this weight; the kill lands before the activity sees the answer. */
  | { on: 'weight'; percent: number }
  /** A ledger record whose key matches (SQL LIKE) is committed; the kill lands before the activity returns. */
  | { on: 'evidence'; like: string }
  /** The phase (and stage) runs and no activity is in flight: only a workflow task is lost, never an activity. */
  | { on: 'idle'; phase: Phase; stage?: number };

export interface KillTarget {
  trigger: Trigger;
  /** Random delay after the trigger, 0..jitterMs (not for weight and evidence triggers: they kill at once). */
  jitterMs?: number;
}

export interface Scenario {
  name: string;
  expected: Exclude<Verdict, 'running'>;
  /** The canary starts failing (5xx) when this stage (1-based) runs. */
  faultAtStage?: number;
  /** The incident commander aborts when this stage (1-based) runs. */
  abortAtStage?: number;
  /** The GO/NO-GO decision the driver gives (default go). */
  gate?: 'go' | 'no-go';
  /** Plan values beside CRASH_PLAN_OVERRIDES (which they replace key by key). */
  plan?: Record<string, unknown>;
  targets: KillTarget[];
}

export interface KillPoint {
  n: number;
  release: string;
  scenario: string;
  target: string;
  /** Where the release was, from its last status before the kill. */
  phase: Phase | 'done' | 'unknown';
  moment: string;
  at: number;
  /** Worker down time before the restart. */
  downMs: number;
  /** Kill to the next completed workflow task of this release (from its history); null if none followed. */
  recoveryMs: number | null;
}

export interface ScenarioRun {
  scenario: string;
  release: string;
  expected: Verdict;
  verdict: Verdict | null;
  /** The release's own reason for its verdict. */
  reason: string | null;
  durationMs: number;
  kills: KillPoint[];
  /** Targets the release ended before reaching. */
  missed: string[];
  violations: Violation[];
  facts: ReleaseFacts;
}

export function describeTrigger(t: Trigger): string {
  switch (t.on) {
    case 'phase': return `phase ${t.phase}`;
    case 'stage': return `canary stage ${t.index + 1}`;
    case 'weight': return `router accepted ${t.percent}%, before the ack`;
    case 'evidence': return `ledger committed ${t.like}, before the ack`;
    case 'idle': return `${t.phase}${t.stage === undefined ? '' : ` stage ${t.stage + 1}`}, no activity in flight`;
    default: return t.on;
  }
}

function moment(s: ReleaseStatus | null): { phase: KillPoint['phase']; moment: string } {
  if (!s) return { phase: 'unknown', moment: 'no status yet' };
  if (s.rollback && !s.rollback.completedAt) return { phase: s.phase, moment: `rollback in flight (from ${s.rollback.fromTraffic}%)` };
  if (s.phase === 'canary' && s.stage) return { phase: s.phase, moment: `stage ${s.stage.index + 1} (${s.stage.traffic}%) ${s.stage.state}, evaluation ${s.stage.evaluations}` };
  if (s.phase === 'go-no-go') return { phase: s.phase, moment: `gate ${s.gates.go.state}` };
  return { phase: s.phase, moment: s.phase };
}

export interface CrashDriverOptions {
  random: () => number;
  log?: (line: string) => void;
  /** Longest worker down time between a kill and the restart (each one random below it). */
  maxDownMs?: number;
}

/**
 * The workflow-test plan with four changes. The GO gate waits 4 plan hours (72 s) instead
 * of 30 minutes (9 s): the bench's approver is delayed by the kills too, and a gate timing
 * out is not what this test is about. Checks (10 s) and queries (3 s) get real-time limits
 * that fit loopback: an activity lost with its worker is retried after its start-to-close
 * timeout, which they set (40 s; a rollback 69 s) instead of 50 s and 90 s. The first
 * night's burn-rate windows are Prometheus' real time: 1 h and 6 h would still hold the 5xx
 * of an earlier failing canary on the same demo target, so one short window is used.
 */

const phaseIndex = (p: Phase | 'done') => (p === 'done' ? PHASES.length : PHASES.indexOf(p));

export class CrashDriver {
  private worker: WorkerProcess | null = null;
  private killCount = 0;

  private readonly random: () => number;
  private readonly log: (line: string) => void;
  private readonly maxDownMs: number;

  constructor(private readonly env: ChaosEnv, opts: CrashDriverOptions) {
    this.random = opts.random;
    this.log = opts.log ?? (() => undefined);
    this.maxDownMs = opts.maxDownMs ?? 1500;
  }

  get kills(): number {
    return this.killCount;
  }

  async start(): Promise<void> {
    this.worker = await this.env.startWorker();
  }

  async close(): Promise<void> {
    await this.worker?.stop();
  }

  async run(scenario: Scenario, resultTimeoutMs = 8 * 60_000): Promise<ScenarioRun> {
    const { env } = this;
    await env.target.clearFault('canary');
    await env.target.setWeight(0);
    await sleep(2000); // the router gauge's next scrape shows 0% before this release's window opens
    const weightsFrom = env.recorder.history.length;
    const startedAt = Date.now();
    const { release } = await env.client.start(env.plan({ ...CRASH_PLAN_OVERRIDES, ...scenario.plan }), 'deniz');
    const kills: KillPoint[] = [];
    const missed: string[] = [];
    let latest: ReleaseStatus | null = null;
    let ended = false;
    let abortSent = false;
    const finished = env.client.result(release).then(() => undefined, () => undefined).finally(() => { ended = true; });

    // Watches the release: steers it (GO, fault, abort) and feeds the phase triggers.
    const observe = (async () => {
      let goSent = false;
      let faultSet = false;
      const answered = new Set<string>();
      while (!ended) {
        if (this.worker) {
          latest = await Promise.race([env.client.status(release), sleep(3000).then(() => latest)]).catch(() => latest);
        }
        const s: ReleaseStatus | null = latest;
        // The red team's people (elif plays them): the GO checklist is then 10/10 and needs no override.
        for (const item of s?.redTeamGate?.state === 'open' && this.worker ? s.redTeamGate.items.filter((i) => i.state === 'open' && !answered.has(i.id)) : []) {
          await env.client.confirmRedTeamItem({ release, item: item.id, by: 'elif', confirmed: true, note: 'chaos: confirmed by the driver, nothing was checked by hand' })
            .then(() => answered.add(item.id), () => undefined);
        }
        if (s?.gates.go.state === 'open' && !goSent) {
          goSent = true;
          void this.decide(release, scenario.gate ?? 'go');
        }
        const running = s?.phase === 'canary' ? (s.stage?.index ?? -1) + 1 : 0;
        if (scenario.faultAtStage && running === scenario.faultAtStage && !faultSet) {
          faultSet = true;
          await env.target.setFault('canary', { kind: 'error-rate', intensity: 0.5 });
        }
        if (scenario.abortAtStage && running === scenario.abortAtStage && !abortSent) {
          await env.client.control(release, 'abort', { by: 'bora', reason: 'chaos: abort during the canary' });
          abortSent = true;
        }
        await sleep(50);
      }
    })();

    for (const target of scenario.targets) {
      const label = describeTrigger(target.trigger);
      const fired = await this.waitFor(target.trigger, release, weightsFrom, () => latest, () => ended, () => abortSent);
      if (fired === 'missed') {
        missed.push(label);
        continue;
      }
      if (fired === 'waiting') {
        const delay = Math.round(this.random() * (target.jitterMs ?? 0));
        if (delay > 0) await sleep(delay);
        this.killNow();
      }
      const where = fired === 'waiting' || target.trigger.on === 'idle' ? moment(latest) : { phase: moment(latest).phase, moment: label };
      const downMs = Math.round(this.random() * this.maxDownMs);
      kills.push({ n: ++this.killCount, release, scenario: scenario.name, target: label, ...where, at: Date.now(), downMs, recoveryMs: null });
      this.log(`kill ${this.killCount}: ${scenario.name} ${where.phase}: ${where.moment} (target: ${label}); down ${downMs} ms`);
      await this.restart(downMs);
    }
    const bound = new AbortController(); // a pending 8-minute timer would keep the process alive
    await Promise.race([finished, sleep(resultTimeoutMs, undefined, { signal: bound.signal }).catch(() => undefined)]);
    bound.abort();
    const facts = await collectFacts(env, release, { weightsFrom, startedAt, resultTimeoutMs: 1000 });
    ended = true;
    await observe;
    for (const k of kills) k.recoveryMs = recoveryAfter(facts.history, k.at);
    const violations = checkRelease(facts);
    return {
      scenario: scenario.name, release, expected: scenario.expected, verdict: facts.result?.verdict ?? null, reason: facts.result?.reason ?? null,
      durationMs: Date.now() - startedAt, kills, missed, violations, facts,
    };
  }

  /** GO (no override: a checklist below 10/10 is refused, and the run ends NO-GO, not as expected) or NO-GO. */
  private async decide(release: string, decision: 'go' | 'no-go'): Promise<void> {
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        await this.env.client.decide({ release, gate: 'go', decision, approver: 'bora', reason: `chaos: ${decision.toUpperCase()}` });
        return;
      } catch (err) {
        if (/already decided|not open/.test((err as Error).message)) return;
        if (/checklist is not 10\/10/.test((err as Error).message)) {
          console.error(`[chaos] GO for ${release} refused: ${(err as Error).message}`);
          return;
        }
        await sleep(1000);
      }
    }
  }

  private killNow(): void {
    if (!this.worker) return;
    process.kill(this.worker.pid, 'SIGKILL');
  }

  private async restart(downMs: number): Promise<void> {
    const dead = this.worker;
    this.worker = null;
    await dead?.exited;
    await sleep(downMs);
    this.worker = await this.env.startWorker();
  }

  /** Resolves `waiting` when a delayed kill is due, `killed` when the trigger killed at once, `missed` when the release ended first. */
  private async waitFor(
    t: Trigger, release: string, weightsFrom: number, latest: () => ReleaseStatus | null, ended: () => boolean, abortSent: () => boolean,
  ): Promise<'waiting' | 'killed' | 'missed'> {
    if (t.on === 'weight') return this.killOnWeight(t.percent, ended, weightsFrom);
    if (t.on === 'evidence') return this.killOnEvidence(release, t.like, ended);
    if (t.on === 'idle') return this.killWhenIdle(t, release, latest, ended);
    const due = (s: ReleaseStatus | null): boolean | 'missed' => {
      if (!s) return false;
      switch (t.on) {
        case 'phase':
          return s.phase === t.phase || (phaseIndex(s.phase) > phaseIndex(t.phase) ? 'missed' : false);
        case 'stage':
          // At or after the stage: the status read lags the release after a restart.
          if (s.phase === 'canary' && (s.stage?.index ?? -1) >= t.index) return true;
          return phaseIndex(s.phase) > phaseIndex('canary') ? 'missed' : false;
        case 'gate-open':
          return s.gates.go.state === 'open' || (s.gates.go.state !== 'pending' ? 'missed' : false);
        case 'abort-sent':
          return abortSent();
        case 'rollback-requested':
          return (s.rollback !== null && !s.rollback.completedAt) || (s.rollback?.completedAt ? 'missed' : false);
      }
    };
    for (;;) {
      const d = due(latest());
      if (d === true) return 'waiting';
      if (d === 'missed' || ended()) return 'missed';
      await sleep(20);
    }
  }

  private async killWhenIdle(t: Extract<Trigger, { on: 'idle' }>, release: string, latest: () => ReleaseStatus | null, ended: () => boolean): Promise<'killed' | 'missed'> {
    const handle = this.env.client.client.workflow.getHandle(release);
    for (;;) {
      const s = latest();
      if (ended() || (s && phaseIndex(s.phase) > phaseIndex(t.phase))) return 'missed';
      if (s?.phase === t.phase && (t.stage === undefined || (s.stage?.index ?? -1) >= t.stage)) {
        const { raw } = await handle.describe();
        if ((raw.pendingActivities ?? []).length === 0) {
          this.killNow();
          return 'killed';
        }
      }
      await sleep(20);
    }
  }

  private killOnWeight(percent: number, ended: () => boolean, weightsFrom: number): Promise<'killed' | 'missed'> {
    if (this.env.recorder.history.slice(weightsFrom).some((c) => c.current === percent)) return Promise.resolve('missed');
    return new Promise((resolve) => {
      const events = this.env.recorder.events;
      const poll = setInterval(() => {
        if (!ended()) return;
        done();
        resolve('missed');
      }, 100);
      const onChange = (c: WeightChangeSeen) => {
        if (c.current !== percent) return;
        this.killNow(); // synchronously, before the recorder passes the answer on
        done();
        resolve('killed');
      };
      const done = () => {
        clearInterval(poll);
        events.off('change', onChange);
      };
      events.on('change', onChange);
    });
  }

  private async killOnEvidence(release: string, like: string, ended: () => boolean): Promise<'killed' | 'missed'> {
    const present = async () => ((await this.env.db.query('SELECT 1 FROM evidence WHERE release = $1 AND key LIKE $2 LIMIT 1', [release, like])).rowCount ?? 0) > 0;
    if (await present()) return 'missed'; // already written: no longer a moment before the ack
    for (;;) {
      if (await present()) {
        this.killNow();
        return 'killed';
      }
      if (ended()) return 'missed';
      await sleep(10);
    }
  }
}

/** Kill time to the first workflow task completed after it. */
function recoveryAfter(history: temporal.api.history.v1.IHistoryEvent[], at: number): number | null {
  const completed = temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED;
  for (const e of history) {
    if (e.eventType !== completed || !e.eventTime) continue;
    const ms = Number(e.eventTime.seconds ?? 0) * 1000 + Math.floor((e.eventTime.nanos ?? 0) / 1e6);
    if (ms > at) return ms - at;
  }
  return null;
}
