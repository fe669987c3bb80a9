// The release tag (spec section 9), created with real git in a repository on
// disk (a clone or the bare origin). Annotated, so it records who and why.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface GitConfig {
  /** Path of the repository (working tree or bare). */
  repository: string;
  gitBinary?: string;
  tagger?: { name: string; email: string };
  timeoutMs?: number;
}

export interface TagRequest {
  name: string;
  /** Commit to tag; HEAD when the plan names none. */
  commit?: string;
  message: string;
}

export interface TagResult {
  repository: string;
  name: string;
  /** Full hash of the tagged commit. */
  commit: string;
  /** False when the tag already pointed at this commit (a retry). */
  created: boolean;
}

export interface ReleaseTagger {
  readonly repository: string;
  tag(req: TagRequest): Promise<TagResult>;
}

/** The tag cannot be made as asked (bad name, unknown commit, an existing tag elsewhere): retrying will not help. */
export class TagRefusedError extends Error {
  override name = 'TagRefusedError';
}

export function createGitTagger(config: GitConfig): ReleaseTagger {
  const git = config.gitBinary ?? 'git';
  const tagger = config.tagger ?? { name: 'spark-release', email: 'spark-release@localhost' };
  const exec = async (args: string[]) => {
    const { stdout } = await run(git, ['-C', config.repository, ...args], { timeout: config.timeoutMs ?? 30_000 });
    return stdout.trim();
  };
  /** The commit a revision names, or null when it names none. */
  const resolve = async (rev: string) => {
    try {
      return await exec(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`]);
    } catch {
      return null;
    }
  };

  return {
    repository: config.repository,
    async tag(req) {
      try {
        await exec(['rev-parse', '--git-dir']);
      } catch (err) {
        throw new TagRefusedError(`repository: ${config.repository} is not a git repository (${(err as Error).message.split('\n')[0]})`);
      }
      try {
        await exec(['check-ref-format', `refs/tags/${req.name}`]);
      } catch {
        throw new TagRefusedError(`tag: "${req.name}" is not a valid git tag name`);
      }
      const target = await resolve(req.commit ?? 'HEAD');
      if (!target) throw new TagRefusedError(`commit: ${req.commit ?? 'HEAD'} is not a commit in ${config.repository}`);
      const existing = await resolve(`refs/tags/${req.name}`);
      if (existing === target) return { repository: config.repository, name: req.name, commit: target, created: false };
      if (existing) throw new TagRefusedError(`tag: ${req.name} already exists in ${config.repository} on ${existing}, not ${target}`);
      await exec(['-c', `user.name=${tagger.name}`, '-c', `user.email=${tagger.email}`, 'tag', '--annotate', '--message', req.message, req.name, target]);
      return { repository: config.repository, name: req.name, commit: target, created: true };
    },
  };
}
