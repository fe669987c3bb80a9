// The change freeze on GitHub (spec sections 1 and 9): at T-30 every open pull
// request gets the hold label; at close-out the label comes off again. Through
// Octokit's REST client, so GitHub Enterprise or a local fake is a base URL away.
import { Octokit } from '@octokit/rest';

export interface GitHubConfig {
  /** REST API root: https://api.github.com, https://ghe.example/api/v3, or a local fake. */
  apiUrl: string;
  /** owner/name */
  repository: string;
  token?: string;
  /** Per request; a hung API must not hold an activity forever. */
  timeoutMs?: number;
}

export interface LabelChange {
  repository: string;
  label: string;
  /** Pull requests whose label this call changed. */
  changed: number[];
  /** Pull requests already as wanted (labelled, or already without the label). */
  unchanged: number[];
}

export interface PullRequestFreeze {
  readonly repository: string;
  /** Adds `label` to every open pull request. Idempotent. */
  hold(label: string): Promise<LabelChange>;
  /** Removes `label` from every open pull request that has it. Idempotent. */
  lift(label: string): Promise<LabelChange>;
}

/** A GitHub answer; `retryable` for rate limits, server errors and network failures. */
export class GitHubError extends Error {
  override name = 'GitHubError';
  constructor(message: string, readonly status: number | null, readonly retryable: boolean) {
    super(message);
  }
}

const REPOSITORY = /^([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)$/;

export function parseRepository(text: string): { owner: string; repo: string } {
  const match = REPOSITORY.exec(text.trim());
  if (!match) throw new Error(`repository: "${text}" is not owner/name`);
  return { owner: match[1]!, repo: match[2]! };
}

function wrap(what: string, err: unknown): GitHubError {
  const status = typeof (err as { status?: unknown }).status === 'number' ? (err as { status: number }).status : null;
  // Octokit reports network failures as status 500.
  const retryable = status === null || status === 429 || status >= 500 || (status === 403 && /rate limit/i.test((err as Error).message));
  return new GitHubError(`GitHub ${what}: ${status ?? 'no answer'} ${(err as Error).message}`, status, retryable);
}

export function createGitHubFreeze(config: GitHubConfig): PullRequestFreeze {
  const { owner, repo } = parseRepository(config.repository);
  const timeoutMs = config.timeoutMs ?? 10_000;
  const octokit = new Octokit({
    baseUrl: config.apiUrl.replace(/\/+$/, ''),
    ...(config.token ? { auth: config.token } : {}),
    userAgent: 'spark-release',
    // A fresh signal per request: Octokit passes `request` options to every fetch.
    request: { fetch: (url: string, init: RequestInit) => fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) }) },
  });
  const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw wrap(what, err);
    }
  };

  return {
    repository: `${owner}/${repo}`,

    async hold(label) {
      const pulls = await call(`list open pull requests of ${owner}/${repo}`, () =>
        octokit.paginate('GET /repos/{owner}/{repo}/pulls', { owner, repo, state: 'open', per_page: 100 }));
      const result: LabelChange = { repository: `${owner}/${repo}`, label, changed: [], unchanged: [] };
      for (const pr of pulls) {
        if (pr.labels.some((l) => l.name === label)) {
          result.unchanged.push(pr.number);
          continue;
        }
        // GitHub creates the label in the repository if it does not exist yet.
        await call(`label #${pr.number}`, () => octokit.rest.issues.addLabels({ owner, repo, issue_number: pr.number, labels: [label] }));
        result.changed.push(pr.number);
      }
      return result;
    },

    async lift(label) {
      // Pull requests are issues to GitHub: the issues listing filters by label.
      const labelled = await call(`list open pull requests labelled ${label}`, () =>
        octokit.paginate('GET /repos/{owner}/{repo}/issues', { owner, repo, state: 'open', labels: label, per_page: 100 }));
      const result: LabelChange = { repository: `${owner}/${repo}`, label, changed: [], unchanged: [] };
      for (const issue of labelled.filter((i) => i.pull_request)) {
        try {
          await octokit.rest.issues.removeLabel({ owner, repo, issue_number: issue.number, name: label });
          result.changed.push(issue.number);
        } catch (err) {
          // Someone removed it meanwhile: the wanted state.
          if ((err as { status?: number }).status === 404) result.unchanged.push(issue.number);
          else throw wrap(`unlabel #${issue.number}`, err);
        }
      }
      return result;
    },
  };
}
