// Freeze, freeze lift and tag through the SCM adapters. Each records what it did
// in the evidence, including "not configured" when the worker has no adapter:
// nothing is ever reported as done that was not done.
import type { EvidenceLedger } from '../adapters/ledger/ledger';
import { GitHubError } from '../adapters/scm/github';
import { TagRefusedError } from '../adapters/scm/git';
import { NO_SCM, type ScmAdapters } from '../adapters/scm';
import type { ReleaseRef } from './types';

export interface ScmOutcome {
  action: 'freeze' | 'lift-freeze' | 'tag';
  status: 'done' | 'not-configured' | 'failed';
  summary: string;
  at: string;
  /** The evidence file that holds the detail. */
  file: string;
}

interface ScmRequest extends ReleaseRef {
  /** Evidence file for the outcome (the workflow names it). */
  file: string;
}

export interface FreezeRequest extends ScmRequest {
  label: string;
}

export interface TagReleaseRequest extends ScmRequest {
  tag: string;
  /** The plan's commit; the repository's HEAD when absent. */
  commit?: string;
  message: string;
}

export interface CloseoutActivities {
  applyFreeze(req: FreezeRequest): Promise<ScmOutcome>;
  liftFreeze(req: FreezeRequest): Promise<ScmOutcome>;
  tagRelease(req: TagReleaseRequest): Promise<ScmOutcome>;
}

export interface CloseoutDeps {
  ledger: EvidenceLedger;
  scm?: ScmAdapters;
}

/** Errors retrying cannot fix become a failed outcome; others are thrown for Temporal to retry. */
function refused(err: unknown): boolean {
  return err instanceof TagRefusedError || (err instanceof GitHubError && !err.retryable);
}

export function createCloseoutActivities(deps: CloseoutDeps): CloseoutActivities {
  const scm = deps.scm ?? NO_SCM;

  const outcome = async (
    req: ScmRequest, action: ScmOutcome['action'], configured: boolean, what: string,
    act: () => Promise<{ summary: string; detail: string[] }>,
  ): Promise<ScmOutcome> => {
    const { file } = req;
    let result: Pick<ScmOutcome, 'status' | 'summary'> & { detail: string[] };
    if (!configured) {
      result = { status: 'not-configured', summary: `${what}: not configured, nothing was done`, detail: [] };
    } else {
      try {
        result = { status: 'done', ...(await act()) };
      } catch (err) {
        if (!refused(err)) throw err;
        result = { status: 'failed', summary: `${what}: FAILED: ${(err as Error).message}`, detail: [] };
      }
    }
    const at = new Date().toISOString();
    await deps.ledger.append({
      release: req.release, runId: req.runId, key: `scm/${action}`, file, kind: 'document',
      body: [`release: ${req.release} (run ${req.runId})`, `at: ${at}`, `status: ${result.status}`, `summary: ${result.summary}`, ...result.detail].join('\n') + '\n',
    });
    return { action, status: result.status, summary: result.summary, at, file };
  };

  const prList = (numbers: number[]) => (numbers.length ? numbers.map((n) => `#${n}`).join(' ') : 'none');

  return {
    applyFreeze: (req) =>
      outcome(req, 'freeze', scm.github !== null, `freeze (label ${req.label})`, async () => {
        const change = await scm.github!.hold(req.label);
        return {
          summary: `labelled ${change.changed.length} open pull request(s) ${req.label} in ${change.repository} (${change.unchanged.length} already were)`,
          detail: [`labelled: ${prList(change.changed)}`, `already labelled: ${prList(change.unchanged)}`],
        };
      }),

    liftFreeze: (req) =>
      outcome(req, 'lift-freeze', scm.github !== null, `freeze lift (label ${req.label})`, async () => {
        const change = await scm.github!.lift(req.label);
        return {
          summary: `removed ${req.label} from ${change.changed.length} open pull request(s) in ${change.repository}`,
          detail: [`unlabelled: ${prList(change.changed)}`, `already without the label: ${prList(change.unchanged)}`],
        };
      }),

    tagRelease: (req) =>
      outcome(req, 'tag', scm.git !== null, `tag ${req.tag}`, async () => {
        const tag = await scm.git!.tag({ name: req.tag, commit: req.commit, message: req.message });
        return {
          summary: `${tag.created ? 'created' : 'found existing'} tag ${tag.name} on ${tag.commit} in ${tag.repository}${req.commit ? '' : ' (HEAD: the plan names no commit)'}`,
          detail: [`message: ${req.message}`],
        };
      }),
  };
}
