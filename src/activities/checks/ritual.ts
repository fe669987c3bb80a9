// Checks that seal who releases what: the identity seal (preflight) and the
// green button's records (release tag, canary plan, baseline record).
import os from 'node:os';
import { bestNtpOffset, ntpProblems } from './clock';
import { limit, ms, targetCheck, verdict } from './target-access';
import type { Check } from './types';

/** Preflight 1: who runs it, which version and commit, and a timestamp everyone agrees on (the worker's clock within maxNtpDriftMs of the plan's NTP server). */
export const identitySeal: Check = targetCheck(async (env) => {
  const { release, runId, service, version, context } = env;
  const maxNtp = limit(env, 'maxNtpDriftMs');
  const server = context.target?.ntpServer;
  const problems: string[] = [];
  if (!context.initiator.trim()) problems.push('no initiator: the seal cannot say who runs the release');
  let agreed: string;
  if (!server) {
    agreed = 'not agreed: the plan names no NTP server (target.ntpServer)';
    problems.push('no timestamp everyone agrees on: the plan names no NTP server (target.ntpServer)');
  } else {
    try {
      const n = await bestNtpOffset(server, env.signal);
      agreed = `NTP ${server} (stratum ${n.stratum}) - worker: ${ms(n.offsetMs)} (round trip ${ms(n.rttMs)}); limit ${maxNtp} ms`;
      problems.push(...ntpProblems(n, server, maxNtp, `the seal's time is not one everyone agrees on: the worker's clock is ${Math.abs(n.offsetMs).toFixed(0)} ms off NTP ${server} (limit ${maxNtp} ms)`));
    } catch (err) {
      agreed = `NTP ${server}: ${(err as Error).message}`;
      problems.push(`no timestamp everyone agrees on: ${(err as Error).message}`);
    }
  }
  const at = new Date().toISOString();
  const v = verdict(`Identity and time seal of ${release}`, [
    `release: ${release}`,
    `run: ${runId}`,
    `service: ${service}`,
    `version: ${version}`,
    `commit: ${context.commit ?? '(not given in the plan)'}`,
    `initiated by: ${context.initiator || '(nobody)'}`,
    `worker host: ${os.hostname()}`,
    `sealed at (worker clock, UTC): ${at}`,
    `time agreed: ${agreed}`,
  ], problems, `sealed for ${context.initiator} at ${at}, within ${maxNtp} ms of NTP`);
  return { status: v.status, summary: v.summary, files: { 'preflight.txt': v.text } };
});

export const releaseTag: Check = async ({ service, version, context }) => ({
  status: 'pass',
  summary: `${service}@${version}${context.commit ? ` (${context.commit})` : ''}`,
  files: { 'release_tag.txt': `${version}\nservice: ${service}\ncommit: ${context.commit ?? '(not given in the plan)'}\n` },
});

export const canaryPlan: Check = async ({ version, context }) => ({
  status: 'pass',
  summary: 'canary plan recorded',
  files: { [`canary_plan_${version}.txt`]: context.canaryPlan },
});

export const baselineRecord: Check = async ({ version, context }) => {
  const entries = Object.entries(context.baseline ?? {});
  const missing = entries.filter(([, v]) => v === null).map(([k]) => k);
  const body = entries.map(([k, v]) => `${k}: ${v ?? 'no data'}`).join('\n') + '\n';
  if (entries.length === 0) return { status: 'fail', summary: 'no baseline was taken in preflight', files: { [`baseline_metrics_${version}.txt`]: 'no baseline\n' } };
  return {
    status: missing.length ? 'fail' : 'pass',
    summary: missing.length ? `baseline missing for ${missing.join(', ')}` : `${entries.length} signals`,
    files: { [`baseline_metrics_${version}.txt`]: body },
  };
};
