// The SCM adapters the worker builds from its environment. Unset means "not
// configured": the freeze, its lift and the tag are then recorded as not done.
import { createGitTagger, type ReleaseTagger } from './git';
import { createGitHubFreeze, parseRepository, type PullRequestFreeze } from './github';

export interface ScmAdapters {
  github: PullRequestFreeze | null;
  git: ReleaseTagger | null;
}

export const NO_SCM: ScmAdapters = { github: null, git: null };

/**
 * GITHUB_REPOSITORY (owner/name) turns the GitHub freeze on, against GITHUB_API_URL
 * (default https://api.github.com) with GITHUB_TOKEN; SPARK_GIT_REPO (a path) turns
 * tagging on. A malformed value is an error naming the variable.
 */
export function scmFromEnv(env: NodeJS.ProcessEnv = process.env): ScmAdapters {
  const repository = env.GITHUB_REPOSITORY?.trim();
  let github: PullRequestFreeze | null = null;
  if (repository) {
    try {
      parseRepository(repository);
    } catch {
      throw new Error(`GITHUB_REPOSITORY: "${repository}" is not owner/name`);
    }
    const apiUrl = env.GITHUB_API_URL?.trim() || 'https://api.github.com';
    if (!URL.canParse(apiUrl)) throw new Error(`GITHUB_API_URL: "${apiUrl}" is not a URL`);
    github = createGitHubFreeze({ apiUrl, repository, token: env.GITHUB_TOKEN?.trim() || undefined });
  }
  const gitRepo = env.SPARK_GIT_REPO?.trim();
  return { github, git: gitRepo ? createGitTagger({ repository: gitRepo }) : null };
}
