// What every front end (CLI, demo, Slack receiver, tests) does to a release,
// through one path and one set of checks.
import {
  Client, Connection, WorkflowExecutionAlreadyStartedError, WorkflowIdConflictPolicy, WorkflowIdReusePolicy,
  WorkflowNotFoundError, WorkflowUpdateFailedError,
} from '@temporalio/client';
import { status } from '@grpc/grpc-js';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes';
import type { KeyObject } from 'node:crypto';
import type { DecisionFields } from './identity/decision';
import { signDecision } from './identity/sign';
import { renderPlanOverview } from './plan/card';
import type { ReleasePlan } from './plan/schema';
import { temporalSettings } from './temporal';
import { loadConfig } from './config';
import {
  abortSignal, canaryControlUpdates, confirmRedTeamItemUpdate, decideGateUpdate, handOverUpdate, holdSignal, planQuery, resumeSignal, statusQuery,
  type CanaryControlAction, type CanaryControlInput, type ControlInput, type DecisionRecord, type GateDecisionInput,
  type GateDecisionResult, type HandOverInput, type RedTeamConfirmInput, type RedTeamItemState, type ReleaseStatus,
} from './workflows/messages';
import { parseCanaryControl, parseControl, parseGateDecision, parseHandOver, parseRedTeamConfirm } from './workflows/validate';
import type { ReleaseInput, ReleaseResult } from './workflows/release';
import { SEARCH_ATTRIBUTES } from './workflows/visibility';

/** How long `status` waits for a worker before reporting the last known state; longer than the
 * server takes to move a query off a crashed worker's sticky queue. */
const STATUS_QUERY_DEADLINE_MS = 15_000;

export class ReleaseCommandError extends Error {
  override name = 'ReleaseCommandError';
}

export function releaseId(service: string, version: string): string {
  return `release-${service}-${version}`;
}

/** Signs a decision now: the fields the workflow verifies, with the signer's time. */
function signed(fields: Omit<DecisionFields, 'at'>, key: string | KeyObject): { at: string; signature: string } {
  const at = new Date().toISOString();
  return { at, signature: signDecision({ ...fields, at }, key) };
}

export class ReleaseClient {
  constructor(readonly client: Client, readonly taskQueue: string, private readonly connection?: Connection) {}

  static async connect(taskQueue = loadConfig().taskQueue): Promise<ReleaseClient> {
    const settings = temporalSettings();
    let connection: Connection;
    try {
      connection = await Connection.connect({ ...settings.connectionOptions, connectTimeout: '5s' } as Parameters<typeof Connection.connect>[0]);
    } catch (err) {
      throw new ReleaseCommandError(
        `cannot reach Temporal at ${settings.connectionOptions.address}: ${(err as Error).message}\n` +
          'start the local services with `bash scripts/services.sh up`, or set TEMPORAL_ADDRESS',
      );
    }
    return new ReleaseClient(new Client({ connection, namespace: settings.namespace }), taskQueue, connection);
  }

  async close(): Promise<void> {
    await this.connection?.close();
  }

  /** Spark* search attributes the namespace lacks (all of them when it cannot be asked). */
  async missingSearchAttributes(): Promise<string[]> {
    const names = Object.values(SEARCH_ATTRIBUTES);
    try {
      const { customAttributes } = await this.client.connection.operatorService.listSearchAttributes({ namespace: this.client.options.namespace });
      return names.filter((k) => customAttributes?.[k.name] !== encodeSearchAttributeIndexedValueType(k.type)).map((k) => k.name);
    } catch {
      return names.map((k) => k.name);
    }
  }

  async start(plan: ReleasePlan, initiator: string, dryRun = false): Promise<{ release: string; runId: string; missingSearchAttributes: string[] }> {
    // Every rehearsal is a release of its own: its evidence never mixes with another's.
    const release = releaseId(plan.service, plan.version) + (dryRun ? `-dry-run-${Date.now().toString(36)}` : '');
    // Upserting an attribute the namespace lacks fails the workflow task: the workflow sets them only when all exist.
    const missingSearchAttributes = await this.missingSearchAttributes();
    const input: ReleaseInput = { plan, initiator, dryRun, searchAttributes: missingSearchAttributes.length === 0 };
    try {
      const handle = await this.client.workflow.start('releaseWorkflow', {
        workflowId: release,
        taskQueue: this.taskQueue,
        args: [input],
        // A version is released once: a second start is refused, even after the first ended.
        workflowIdReusePolicy: dryRun ? WorkflowIdReusePolicy.ALLOW_DUPLICATE : WorkflowIdReusePolicy.REJECT_DUPLICATE,
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
        staticSummary: `${plan.service} ${plan.version}${dryRun ? ' (dry run)' : ''}: started by ${initiator}`,
        staticDetails: renderPlanOverview(plan),
      });
      return { release, runId: handle.firstExecutionRunId, missingSearchAttributes };
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        throw new ReleaseCommandError(
          `release ${release} already exists: ${plan.service} ${plan.version} is released once. ` +
            `See it with \`spark-release status ${release}\`; to ship a fix, release a new version.`,
        );
      }
      throw err;
    }
  }

  /** The current run of a release (or the given one), checked to exist. */
  async handle(release: string, runId?: string) {
    const handle = this.client.workflow.getHandle(release, runId);
    try {
      const description = await handle.describe();
      return { handle, runId: description.runId, description };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new ReleaseCommandError(`no release ${release}${runId ? ` with run ${runId}` : ''}`);
      const grpcCode = (err as { cause?: { code?: number } }).cause?.code;
      if (runId && grpcCode === status.INVALID_ARGUMENT) throw new ReleaseCommandError(`runId: "${runId}" is not a run ID (${(err as Error).message})`);
      throw err;
    }
  }

  /**
   * The release's status: live from its worker while it runs; for an ended release from the
   * workflow's result, so no worker is needed. A running release whose worker does not answer
   * is refused with its last known state from the search attributes, marked as such.
   */
  async status(release: string, runId?: string): Promise<ReleaseStatus> {
    const { handle, description } = await this.handle(release, runId);
    if (description.status.name === 'COMPLETED') {
      const ended = (await handle.result()) as ReleaseResult;
      if (ended.status) return ended.status;
    }
    try {
      return await this.client.withDeadline(Date.now() + STATUS_QUERY_DEADLINE_MS, () => handle.query(statusQuery));
    } catch (err) {
      const attrs = description.searchAttributes as Record<string, unknown[] | undefined>;
      const attr = (key: { name: string }) => attrs?.[key.name]?.[0] ?? 'unknown';
      throw new ReleaseCommandError(
        `release ${release} (${description.status.name}): no worker answered the status query within ${STATUS_QUERY_DEADLINE_MS / 1000} s ` +
        `(${(err as Error).message}). Last known from the search attributes, as of ${description.historyLength} history events: ` +
        `phase ${attr(SEARCH_ATTRIBUTES.phase)}, stage ${attr(SEARCH_ATTRIBUTES.stage)}, canary weight ${attr(SEARCH_ATTRIBUTES.canaryWeight)}%, ` +
        `verdict ${attr(SEARCH_ATTRIBUTES.verdict)}. Start a worker (npx tsx src/worker.ts) for the live status.`,
      );
    }
  }

  async result(release: string, runId?: string): Promise<ReleaseResult> {
    const { handle } = await this.handle(release, runId);
    return handle.result() as Promise<ReleaseResult>;
  }

  /** The plan a release runs (people, approvers, delegates), as it recorded it. */
  async plan(release: string, runId?: string): Promise<ReleasePlan> {
    const { handle } = await this.handle(release, runId);
    return handle.query(planQuery);
  }

  /** The release's current run (or the given one), refused when that run has ended: nothing can change it any more. */
  private async running(release: string, runId?: string) {
    const found = await this.handle(release, runId);
    if (found.description.status.name !== 'RUNNING') {
      throw new ReleaseCommandError(`release ${release} run ${found.runId} has ended (${found.description.status.name}); nothing can change it any more`);
    }
    return found;
  }

  /** Runs an update; a validator's refusal becomes a ReleaseCommandError that says why. */
  private async refusable<T>(send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) throw new ReleaseCommandError(`refused: ${err.cause?.message ?? err.message}`);
      throw err;
    }
  }

  /**
   * Sends a gate decision bound to the release's current run (or the given one); with `key`
   * (the approver's Ed25519 private key) it is signed over the release, run, gate, decision, reason and time.
   */
  async decide(input: Omit<GateDecisionInput, 'runId' | 'at' | 'signature'> & { runId?: string; key?: string | KeyObject }): Promise<GateDecisionResult> {
    const { key, ...rest } = input;
    const { handle, runId } = await this.running(input.release, input.runId);
    let decision = parseGateDecision({ ...rest, runId: input.runId ?? runId });
    if (key !== undefined) decision = { ...decision, ...signed({ release: decision.release, runId: decision.runId, target: decision.gate, decision: decision.decision, by: decision.approver, reason: decision.reason }, key) };
    return this.refusable(() => handle.executeUpdate(decideGateUpdate, { args: [decision] }));
  }

  /** Hold, resume, promote now or roll back: the incident commander's (or a delegate's), checked by the workflow. */
  async canaryControl(action: CanaryControlAction, input: Omit<CanaryControlInput, 'runId' | 'at' | 'signature'> & { runId?: string; key?: string | KeyObject }): Promise<DecisionRecord> {
    const { key, ...rest } = input;
    const { handle, runId } = await this.running(input.release, input.runId);
    let control = parseCanaryControl({ ...rest, runId: input.runId ?? runId });
    if (key !== undefined) control = { ...control, ...signed({ release: control.release, runId: control.runId, target: action, decision: control.stage === undefined ? '' : String(control.stage), by: control.by, reason: control.reason }, key) };
    return this.refusable(() => handle.executeUpdate(canaryControlUpdates[action], { args: [control] }));
  }

  async handOver(input: Omit<HandOverInput, 'runId' | 'at' | 'signature'> & { runId?: string; key?: string | KeyObject }): Promise<DecisionRecord> {
    const { key, ...rest } = input;
    const { handle, runId } = await this.running(input.release, input.runId);
    let handOver = parseHandOver({ ...rest, runId: input.runId ?? runId });
    if (key !== undefined) handOver = { ...handOver, ...signed({ release: handOver.release, runId: handOver.runId, target: 'handover', decision: handOver.to, by: handOver.by, reason: handOver.reason }, key) };
    return this.refusable(() => handle.executeUpdate(handOverUpdate, { args: [handOver] }));
  }

  /** A confirmer's answer to one red-team item a machine cannot check (the red-team gate, T-5). */
  async confirmRedTeamItem(input: Omit<RedTeamConfirmInput, 'runId'> & { runId?: string }): Promise<RedTeamItemState> {
    const { handle, runId } = await this.running(input.release, input.runId);
    const answer = parseRedTeamConfirm({ ...input, runId: input.runId ?? runId });
    return this.refusable(() => handle.executeUpdate(confirmRedTeamItemUpdate, { args: [answer] }));
  }

  async control(release: string, kind: 'abort' | 'hold' | 'resume', input: ControlInput): Promise<void> {
    const control = parseControl(input);
    const { handle } = await this.running(release);
    const signal = kind === 'abort' ? abortSignal : kind === 'hold' ? holdSignal : resumeSignal;
    await handle.signal(signal, control);
  }
}
