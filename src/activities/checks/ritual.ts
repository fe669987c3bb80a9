// Checks that seal who releases what: the identity seal (preflight) and the
// green button's records (release tag, canary plan, baseline record).
import os from 'node:os';
import type { Check } from './types';

export const identitySeal: Check = async ({ release, runId, service, version, context }) => {
  const lines = [
    `release: ${release}`,
    `run: ${runId}`,
    `service: ${service}`,
    `version: ${version}`,
    `commit: ${context.commit ?? '(not given in the plan)'}`,
    `initiated by: ${context.initiator}`,
    `worker host: ${os.hostname()}`,
    `sealed at (worker clock, UTC): ${new Date().toISOString()}`,
  ];
  return {
    status: 'pass',
    summary: `sealed for ${context.initiator} at ${new Date().toISOString()}`,
    files: { 'preflight.txt': lines.join('\n') + '\n' },
  };
};

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
