// What every front end (CLI, demo, Slack receiver, tests) does to a release,
// through one path and one set of checks.
import {
  Client, Connection, WorkflowExecutionAlreadyStartedError, WorkflowIdConflictPolicy, WorkflowIdReusePolicy,
  WorkflowNotFoundError, WorkflowUpdateFailedError,
} from '@temporalio/client';
import { status } from '@grpc/grpc-js';
import type { ReleasePlan } from './plan/schema';
import { temporalSettings } from './temporal';
import { loadConfig } from './config';
import {
  abortSignal, decideGateUpdate, holdSignal, resumeSignal, statusQuery,
  type ControlInput, type GateDecisionInput, type GateDecisionResult, type ReleaseStatus,
} from './workflows/messages';
import { parseControl, parseGateDecision } from './workflows/validate';
import type { ReleaseInput, ReleaseResult } from './workflows/release';

export class ReleaseCommandError extends Error {
  override name = 'ReleaseCommandError';
}

export function releaseId(service: string, version: string): string {
  return `release-${service}-${version}`;
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

  async start(plan: ReleasePlan, initiator: string, dryRun = false): Promise<{ release: string; runId: string }> {
    const release = releaseId(plan.service, plan.version) + (dryRun ? '-dry-run' : '');
    const input: ReleaseInput = { plan, initiator, dryRun };
    try {
      const handle = await this.client.workflow.start('releaseWorkflow', {
        workflowId: release,
        taskQueue: this.taskQueue,
        args: [input],
        // A version is released once: a second start is refused, even after the first ended.
        workflowIdReusePolicy: dryRun ? WorkflowIdReusePolicy.ALLOW_DUPLICATE : WorkflowIdReusePolicy.REJECT_DUPLICATE,
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
        staticSummary: `${plan.service} ${plan.version}${dryRun ? ' (dry run)' : ''}: started by ${initiator}`,
      });
      return { release, runId: handle.firstExecutionRunId };
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

  async status(release: string, runId?: string): Promise<ReleaseStatus> {
    const { handle } = await this.handle(release, runId);
    return handle.query(statusQuery);
  }

  async result(release: string, runId?: string): Promise<ReleaseResult> {
    const { handle } = await this.handle(release, runId);
    return handle.result() as Promise<ReleaseResult>;
  }

  /** Sends a gate decision bound to the release's current run (or the given one). */
  async decide(input: Omit<GateDecisionInput, 'runId'> & { runId?: string }): Promise<GateDecisionResult> {
    const { handle, runId } = await this.handle(input.release, input.runId);
    const decision = parseGateDecision({ ...input, runId: input.runId ?? runId });
    try {
      return await handle.executeUpdate(decideGateUpdate, { args: [decision] });
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) throw new ReleaseCommandError(`refused: ${err.cause?.message ?? err.message}`);
      throw err;
    }
  }

  async control(release: string, kind: 'abort' | 'hold' | 'resume', input: ControlInput): Promise<void> {
    const control = parseControl(input);
    const { handle, description } = await this.handle(release);
    if (description.status.name !== 'RUNNING') throw new ReleaseCommandError(`release ${release} has ended (${description.status.name})`);
    const signal = kind === 'abort' ? abortSignal : kind === 'hold' ? holdSignal : resumeSignal;
    await handle.signal(signal, control);
  }
}
