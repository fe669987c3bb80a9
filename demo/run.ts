// `npm run demo`: one full release of the demo service through the shipped
// v1.4.0 run-of-show, compressed (one plan minute per second). The local
// services must be up (scripts/demo.sh starts them).
//
//   tsx demo/run.ts [--fault <kind>] [--fault-stage <n>] [--plan plans/demo.yaml] [--rps 300]
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { watchRelease } from '../src/client';
import { loadConfig, projectRoot } from '../src/config';
import { loadPlanFileWith } from '../src/plan/loader';
import { ReleaseClient } from '../src/release-client';
import { faultKinds, isFaultKind } from './faults';
import { numberFlag, runCli } from './cli-args';
import { startDemoTarget } from './target';
import { startNtpServer } from './ntp';
import { startFakeGitHub } from './fake-github';

const USAGE = `usage: npm run demo -- [--fault <kind>] [--fault-stage <1-5>] [--plan <file>] [--rps <n>] [--error-noise <fraction>]
fault kinds: ${faultKinds.join(', ')}`;

async function startWorker(logFile: string): Promise<ChildProcess> {
  const out = fs.openSync(logFile, 'a');
  // The log is appended run after run: only what this worker writes says it is ready.
  const from = fs.fstatSync(out).size;
  const child = spawn(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), [path.join(projectRoot, 'src', 'worker.ts')], {
    stdio: ['ignore', out, out],
    env: process.env,
  });
  // The worker is ready once it says it polls; a crash before that is reported with its log.
  await new Promise<void>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`worker did not start within 120 s; see ${logFile}`)), 120_000);
    const poll = setInterval(() => {
      if (fs.readFileSync(logFile).subarray(from).toString('utf8').includes('polling task queue')) {
        clearInterval(poll);
        clearTimeout(deadline);
        resolve();
      }
    }, 250);
    child.once('exit', (code) => {
      clearInterval(poll);
      clearTimeout(deadline);
      reject(new Error(`worker exited with code ${code}; see ${logFile}`));
    });
  });
  return child;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      fault: { type: 'string' },
      'fault-stage': { type: 'string' },
      plan: { type: 'string', default: path.join(projectRoot, 'plans', 'demo.yaml') },
      rps: { type: 'string' },
      'error-noise': { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (values.fault !== undefined && !isFaultKind(values.fault)) {
    throw new Error(`--fault: unknown kind "${values.fault}"\n${USAGE}`);
  }
  const fault = values.fault;
  const faultStage = numberFlag(values['fault-stage'], '--fault-stage', 3, 1, 5);
  const config = loadConfig();
  const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  // Each demo run releases a fresh pre-release version: a version is released once.
  // The time-drift checks measure against a real NTP server; the demo's is chronyd on loopback.
  const ntp = await startNtpServer();
  const plan = loadPlanFileWith(values.plan!, { version: `v1.4.0-demo.${stamp}`, target: { ntpServer: ntp.url } });
  const logs = path.join(config.runDir, 'logs');
  fs.mkdirSync(logs, { recursive: true });

  console.log(`demo: ${plan.service} ${plan.version}, ${plan.canary.stages.length} stages, time scale ${plan.timeScale.toFixed(4)}${fault ? `, fault ${fault} at stage ${faultStage}` : ''}`);
  const target = await startDemoTarget({
    databaseUrl: process.env.SPARK_TARGET_DATABASE_URL,
    canaryVersion: plan.version,
    load: { rps: numberFlag(values.rps, '--rps', 300, 1, 1000) },
    // Realistic background 5xx (0.1%): the judgment's samples rule keeps it from failing a 1% canary (docs/judgment.md).
    baselineErrorRate: numberFlag(values['error-noise'], '--error-noise', 0.001, 0, 0.5),
  });
  // The freeze labels open pull requests: a local stand-in for GitHub holds three (docs/adapters.md for the real one).
  const github = process.env.GITHUB_REPOSITORY ? null : await startFakeGitHub({ repository: 'spark/spark-trading', token: 'demo-token' });
  if (github) {
    for (const [number, title] of [[101, 'Tune order book depth'], [102, 'Bump ws library'], [103, 'Copy edits on the fees page']] as const) {
      github.add({ number, title, pullRequest: true });
    }
    Object.assign(process.env, { GITHUB_REPOSITORY: github.repository, GITHUB_API_URL: github.url, GITHUB_TOKEN: 'demo-token' });
    console.log(`demo: a local stand-in for GitHub at ${github.url} holds 3 open pull requests for the freeze`);
  }
  const worker = await startWorker(path.join(logs, 'worker.log'));
  const client = await ReleaseClient.connect();
  try {
    const { release, runId } = await client.start(plan, 'deniz');
    console.log(`started ${release} (run ${runId})`);
    console.log(`Temporal UI: ${config.temporalUiUrl}/namespaces/default/workflows/${release}/${runId}/history`);
    let injected = false;
    const final = await watchRelease(client, release, (line) => console.log(line), 500, async (status) => {
      // In a real release a confirmer does each item by hand (spark-release redteam confirm); the demo plays elif.
      for (const item of status.redTeamGate?.state === 'open' ? status.redTeamGate.items.filter((i) => i.state === 'open') : []) {
        await client.confirmRedTeamItem({ release, item: item.id, by: 'elif', confirmed: true, note: `demo: played by the demo script, nothing was checked by hand (${item.text})` });
      }
      const gate = status.gates.go;
      if (gate.state === 'open' && gate.decisions.length === 0) {
        const complete = gate.checklist.every((i) => i.ok);
        const missing = gate.checklist.filter((i) => !i.ok).map((i) => i.item);
        // The demo's approver is a second person (the plan forbids self-approval).
        const result = await client.decide({
          release, gate: 'go', decision: 'go', approver: 'bora',
          reason: complete ? 'demo: checklist 10/10' : `demo: GO with an incomplete checklist (${missing.join('; ')})`,
          ...(complete ? {} : { override: true }),
        });
        console.log(`demo: bora said GO${complete ? '' : ' with an override'}; gate ${result.state}`);
      }
      if (fault && !injected && status.stage && status.stage.index + 1 >= faultStage) {
        injected = true;
        const active = await target.setFault('canary', { kind: fault });
        console.log(`demo: injected fault ${active.kind} on the canary at stage ${status.stage.index + 1} (${status.stage.traffic}%)`);
      }
    });
    const evidenceDir = path.join(config.evidenceDir, release);
    // The ledger anchors are checked with the demo key's public half (the key file holds it).
    console.log('');
    console.log(`verdict: ${final.verdict.toUpperCase()}${final.rollback ? ` (${final.rollback.reason})` : ''}`);
    console.log(`canary weight now: ${final.canaryWeight}%`);
    console.log(`evidence: ${evidenceDir} (${fs.existsSync(evidenceDir) ? fs.readdirSync(evidenceDir).length : 0} files); verify with: bin/spark-release evidence verify ${release}${process.env.SPARK_SIGNING_KEY ? ` --key ${process.env.SPARK_SIGNING_KEY}` : ''}`);
    console.log(`Temporal UI: ${config.temporalUiUrl}/namespaces/default/workflows/${release}/${runId}/history`);
    const expected = fault ? 'rolled-back' : 'released';
    if (final.verdict !== expected) process.exitCode = 1;
  } finally {
    await client.close();
    worker.kill('SIGTERM');
    await target.stop();
    await ntp.stop();
    await github?.close();
  }
}

runCli(main);
