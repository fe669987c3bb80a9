// Feature flags (preflight 7, blind spot 7): the flag service answers, every
// flag has an explicit default, and the canary starts canary-safe: no flag is
// switched away from its default before the canary has proved it.
import { ms, probe, sectionCheck, targetCheck, targetOf, verdict } from './target-access';
import type { CheckEnv } from './types';

interface Flag {
  key: string;
  default?: unknown;
  value?: unknown;
}

interface FlagReading {
  lines: string[];
  problems: string[];
  flags: Flag[];
}

async function readFlags(env: CheckEnv, url: string): Promise<FlagReading> {
  const answer = await probe(env, url);
  const lines = [`GET ${url} -> ${answer.status} in ${ms(answer.ms)}`];
  if (answer.status !== 200) return { lines, problems: [`the flag service at ${url} answered ${answer.status}`], flags: [] };
  let flags: Flag[];
  try {
    const body = JSON.parse(answer.body) as { flags?: unknown };
    if (!Array.isArray(body.flags)) throw new Error('no "flags" list');
    flags = body.flags as Flag[];
  } catch (err) {
    return { lines, problems: [`the flag service at ${url} did not answer { flags: [...] }: ${(err as Error).message}`], flags: [] };
  }
  const problems: string[] = [];
  lines.push('flag\tdefault\tvalue');
  for (const f of flags) {
    lines.push(`${f.key}\t${f.default === undefined || f.default === null ? '(none)' : JSON.stringify(f.default)}\t${JSON.stringify(f.value)}`);
    if (f.default === undefined || f.default === null) problems.push(`flag ${f.key} has no explicit default`);
    else if (JSON.stringify(f.value) !== JSON.stringify(f.default)) problems.push(`flag ${f.key} is ${JSON.stringify(f.value)}, away from its default ${JSON.stringify(f.default)}, before the canary`);
  }
  if (flags.length === 0) problems.push(`the flag service at ${url} lists no flags`);
  return { lines, problems, flags };
}

export const featureFlagDefaults = targetCheck(async (env) => {
  const r = await readFlags(env, targetOf(env).featureFlagsUrl);
  const v = verdict(`Feature flag defaults of ${env.release} (run ${env.runId})`, r.lines, r.problems, `${r.flags.length} flags, each explicit and at its default`);
  return { status: v.status, summary: v.summary, files: { [`feature_flags_${env.version}.txt`]: v.text } };
});

/** Blind spot 7: the same on the canary's flag service, and stable's flags answer too (the rollback path). */
export const blindFeatureFlags = sectionCheck((v) => `blind_spots_scan_${v}.txt`, async (env) => {
  const target = targetOf(env);
  const canary = await readFlags(env, target.featureFlagsUrl);
  const stableUrl = new URL(new URL(target.featureFlagsUrl).pathname, target.stableUrl).href;
  const stable = await probe(env, stableUrl);
  const problems = [...canary.problems];
  if (stable.status !== 200) problems.push(`stable's flag service at ${stableUrl} answered ${stable.status}`);
  return verdict('Blind spot 7: feature flags', [...canary.lines, `stable: GET ${stableUrl} -> ${stable.status} in ${ms(stable.ms)}`], problems, `${canary.flags.length} flags explicit and canary-safe; both flag services answer`);
});
