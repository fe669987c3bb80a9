// `spark-release`: start, watch, steer and verify releases from a terminal.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { createPostgresLedger } from './adapters/ledger/postgres';
import { completenessOf } from './evidence/completeness';
import { loadConfig } from './config';
import { formatStatus, formatProgress } from './cli/format';
import { renderOperatorCard } from './plan/card';
import { loadPlanFileWith } from './plan/loader';
import { PlanError } from './plan/schema';
import { exportRules, renderRuleFile } from './rules/export';
import { assertLicencePolicy } from './ritual/licence';
import { verifySignedFile } from './ritual/verify';
import { ReleaseClient, ReleaseCommandError, releaseId } from './release-client';
import { parseCanaryControl, parseControl, parseGateDecision, parseHandOver, parseRedTeamConfirm, RefusedError } from './workflows/validate';
import type { CanaryControlAction, ReleaseStatus } from './workflows/messages';
import { registerSearchAttributesCommand } from './workflows/visibility';
import { previewRollback } from './cli/rollback-preview';
import { verifyAnchors } from './cli/verify-anchors';
import { ANCHORS_FILE } from './adapters/ledger/mirror';
import { createPrometheusProvider } from './adapters/metrics/prometheus';
import { requireHttpUrl } from './adapters/http';
import { backtest } from './judge/backtest';
import { formatBacktest, parseTime } from './cli/backtest';

/** Who is acting: --as, else SPARK_RELEASE_USER, else the OS user. */
function actor(as: string | undefined): string {
  return as ?? process.env.SPARK_RELEASE_USER ?? os.userInfo().username;
}

/** The private key to sign a decision with (--key, else $SPARK_DECISION_KEY), or nothing: unsigned. */
function signingKey(file: string | undefined): { key?: string } {
  const path = file ?? process.env.SPARK_DECISION_KEY;
  if (!path) return {};
  try {
    return { key: fs.readFileSync(path, 'utf8') };
  } catch (err) {
    throw new ReleaseCommandError(`--key: cannot read ${path}: ${(err as Error).message}`);
  }
}

function stageNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a stage number: 1, 2, ...');
  return n;
}

function timeScale(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 1) throw new InvalidArgumentError('must be a number above 0 and at most 1 (e.g. 0.0166 = one plan minute per second)');
  return n;
}

async function withClient<T>(fn: (client: ReleaseClient) => Promise<T>): Promise<T> {
  const client = await ReleaseClient.connect();
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Prints progress until the release ends; returns its final status. `onStatus` sees every poll. */
export async function watchRelease(
  client: ReleaseClient,
  release: string,
  print: (line: string) => void,
  pollMs = 1000,
  onStatus?: (status: ReleaseStatus) => Promise<void>,
): Promise<ReleaseStatus> {
  let previous: ReleaseStatus | null = null;
  for (;;) {
    const { description } = await client.handle(release);
    const status = await client.status(release);
    for (const line of formatProgress(previous, status)) print(line);
    previous = status;
    await onStatus?.(status);
    if (description.status.name !== 'RUNNING') return status;
    await sleep(pollMs);
  }
}

export function buildCli(print: (line: string) => void = console.log, printError: (line: string) => void = console.error, outcome = { exitCode: 0 }): Command {
  // Settings before the commands: subcommands copy them when they are created.
  const program = new Command('spark-release')
    .description('Every release a durable Temporal workflow: freeze, preflight, GO/NO-GO, canary, rollback, first night, close-out.')
    .showSuggestionAfterError(true)
    .configureOutput({ writeOut: (s) => print(s.trimEnd()), writeErr: (s) => printError(s.trimEnd()) })
    .exitOverride();

  program
    .command('start')
    .description('start the release a plan describes (workflow ID release-<service>-<version>)')
    .argument('<plan>', 'release plan (YAML)')
    .option('--as <person>', 'who starts it (default: $SPARK_RELEASE_USER or your user name)')
    .option('--dry-run', 'rehearse: run every check and evaluation; the router only records weights')
    .option('--time-scale <factor>', 'compress every plan duration by this factor', timeScale)
    .option('--watch', 'follow the release until it ends')
    .action(async (file: string, opts: { as?: string; dryRun?: boolean; timeScale?: number; watch?: boolean }) => {
      const plan = loadPlanFileWith(file, opts.timeScale ? { timeScale: opts.timeScale } : {});
      assertLicencePolicy(plan, file);
      await withClient(async (client) => {
        const started = await client.start(plan, actor(opts.as), opts.dryRun ?? false);
        print(`started ${started.release} (run ${started.runId})${opts.dryRun ? ' as a dry run' : ''}`);
        print(`Temporal UI: ${loadConfig().temporalUiUrl}/namespaces/${process.env.TEMPORAL_NAMESPACE ?? 'default'}/workflows/${started.release}`);
        if (started.missingSearchAttributes.length) {
          printError(`warning: the namespace lacks the search attributes ${started.missingSearchAttributes.join(', ')}; this release runs without them. Register them with:`);
          printError(registerSearchAttributesCommand(process.env.TEMPORAL_NAMESPACE ?? 'default', started.missingSearchAttributes));
        }
        if (opts.watch) await watchRelease(client, started.release, print);
      });
    });

  program
    .command('status')
    .description('show a release: phase, stage, weight, signals, gates, decisions')
    .argument('<release>', 'release ID, e.g. release-spark-trading-v1.4.0')
    .option('--json', 'print the status as JSON')
    .action(async (release: string, opts: { json?: boolean }) => {
      await withClient(async (client) => {
        const status = await client.status(release);
        print(opts.json ? JSON.stringify(status, null, 2) : formatStatus(status));
      });
    });

  program
    .command('watch')
    .description('follow a release live until it ends')
    .argument('<release>')
    .action(async (release: string) => {
      await withClient(async (client) => {
        const status = await watchRelease(client, release, print);
        print(`verdict: ${status.verdict}`);
      });
    });

  for (const [name, decision] of [['approve', 'go'], ['reject', 'no-go']] as const) {
    program
      .command(name)
      .description(`${decision === 'go' ? 'say GO at' : 'say NO-GO at'} a gate of a release`)
      .argument('<release>')
      .requiredOption('--reason <text>', 'why (recorded with your name)')
      .option('--as <person>', 'who decides (default: $SPARK_RELEASE_USER or your user name)')
      .option('--gate <gate>', 'the gate', 'go')
      .option('--run <runId>', 'bind the decision to this run (default: the current run)')
      .option('--override', 'GO although the checklist is not 10/10 (the reason must say why)')
      .option('--key <file>', 'your Ed25519 private key (PEM) to sign the decision with (default: $SPARK_DECISION_KEY); required when the worker has a people registry')
      .action(async (release: string, opts: { reason: string; as?: string; gate: string; run?: string; override?: boolean; key?: string }) => {
        const input = { release, gate: opts.gate, decision, approver: actor(opts.as), reason: opts.reason, ...(opts.override ? { override: true } : {}) };
        // Same checks as the workflow's validator, before anything is sent.
        const checked = parseGateDecision({ ...input, runId: opts.run ?? '(current run)' });
        await withClient(async (client) => {
          const result = await client.decide({ ...checked, runId: opts.run, ...signingKey(opts.key) });
          print(`${decision.toUpperCase()} recorded for ${release} gate ${result.gate} by ${result.recorded.by}; gate is now ${result.state}`);
        });
      });
  }

  program
    .command('abort')
    .description('stop a release (anyone of the plan); traffic goes back to 0% through the rollback path')
    .argument('<release>')
    .requiredOption('--reason <text>', 'why (recorded with your name)')
    .option('--as <person>', 'who (default: $SPARK_RELEASE_USER or your user name)')
    .action(async (release: string, opts: { reason: string; as?: string }) => {
      const control = parseControl({ by: actor(opts.as), reason: opts.reason });
      await withClient(async (client) => {
        await client.control(release, 'abort', control);
        print(`abort sent to ${release} as ${actor(opts.as)}; \`spark-release status ${release}\` shows whether it was accepted`);
      });
    });

  // The same updates and validators as Slack's buttons: a refusal comes back at once, saying why.
  const canaryCommands: [CanaryControlAction, string][] = [
    ['hold', 'pause the current canary stage; its clock stops until resume (incident commander or delegate)'],
    ['resume', 'resume a held stage (incident commander or delegate)'],
    ['promote', 'end the current stage now and go to the next (incident commander or delegate; the reason is recorded)'],
    ['rollback', 'roll the canary back to 0% now through the rollback path (incident commander or delegate)'],
  ];
  for (const [action, description] of canaryCommands) {
    const command = program
      .command(action)
      .description(description)
      .argument('<release>')
      .requiredOption('--reason <text>', 'why (recorded with your name)')
      .option('--as <person>', 'who (default: $SPARK_RELEASE_USER or your user name)')
      .option('--stage <n>', 'refuse unless this stage (1-based) is the one running', stageNumber)
      .option('--key <file>', 'your Ed25519 private key (PEM) to sign with (default: $SPARK_DECISION_KEY); required when the worker has a people registry');
    if (action === 'rollback') command.option('--dry-run', 'show what a rollback would change; send nothing');
    command.action(async (release: string, opts: { reason: string; as?: string; stage?: number; dryRun?: boolean; key?: string }) => {
      const input = { release, by: actor(opts.as), reason: opts.reason, ...(opts.stage ? { stage: opts.stage } : {}) };
      parseCanaryControl({ ...input, runId: '(current run)' }); // bad input is refused before connecting
      await withClient(async (client) => {
        if (opts.dryRun) {
          const [status, plan] = await Promise.all([client.status(release), client.plan(release)]);
          for (const line of previewRollback(status, plan, input.by, opts.reason, opts.stage)) print(line);
          return;
        }
        const record = await client.canaryControl(action, { ...input, ...signingKey(opts.key) });
        print(`${action} accepted for ${release} at stage ${record.stage}, recorded as ${record.by}: ${record.reason}`);
      });
    });
  }

  program
    .command('handover')
    .description('hand the war-room to another person of the plan as incident commander (the commander or a delegate)')
    .argument('<release>')
    .requiredOption('--to <person>', 'the new incident commander (a person of the plan)')
    .option('--reason <text>', 'why (recorded with your name)')
    .option('--as <person>', 'who hands over (default: $SPARK_RELEASE_USER or your user name)')
    .option('--key <file>', 'your Ed25519 private key (PEM) to sign with (default: $SPARK_DECISION_KEY); required when the worker has a people registry')
    .action(async (release: string, opts: { to: string; reason?: string; as?: string; key?: string }) => {
      const input = { release, by: actor(opts.as), to: opts.to, reason: opts.reason ?? `hand-over to ${opts.to}` };
      parseHandOver({ ...input, runId: '(current run)' });
      await withClient(async (client) => {
        const record = await client.handOver({ ...input, ...signingKey(opts.key) });
        print(`${release}: incident commander is now ${record.to} (handed over by ${record.by})`);
      });
    });

  const redTeam = program.command('redteam').description("the red team's human gate (T-5): what no machine can prove");
  for (const [name, confirmed] of [['confirm', true], ['decline', false]] as const) {
    redTeam
      .command(name)
      .description(`${confirmed ? 'confirm' : 'decline'} one red-team item, with what you did and saw (a confirmer of the plan)`)
      .argument('<release>')
      .argument('<item>', 'the item id (spark-release status shows the open items)')
      .requiredOption('--note <text>', 'what was done and seen (recorded with your name)')
      .option('--as <person>', 'who answers (default: $SPARK_RELEASE_USER or your user name)')
      .option('--run <runId>', 'bind the answer to this run (default: the current run)')
      .action(async (release: string, item: string, opts: { note: string; as?: string; run?: string }) => {
        const input = { release, item, by: actor(opts.as), confirmed, note: opts.note };
        parseRedTeamConfirm({ ...input, runId: opts.run ?? '(current run)' });
        await withClient(async (client) => {
          const answered = await client.confirmRedTeamItem({ ...input, runId: opts.run });
          print(`${release}: red-team item ${answered.id} ${answered.state} by ${answered.by}`);
        });
      });
  }

  const evidence = program.command('evidence').description('the evidence ledger');
  evidence
    .command('verify')
    .description('recompute the hash chain of a release and report the first broken link; check it against the signed ledger anchors; then list the evidence files the phases it reached owe, and which are missing')
    .argument('<release>')
    .option('--plan <file>', 'judge completeness against this plan (default: the plan the release recorded)')
    .option('--key <public.pem>', 'the public half of the worker\'s release signing key, to check the anchors with (default: that of $SPARK_SIGNING_KEY)')
    .option('--anchors <files...>', 'more texts holding anchors: a saved war-room or #deploys message, `git cat-file tag <tag>`, a copy of ledger_anchors.jsonl')
    .action(async (release: string, opts: { plan?: string; key?: string; anchors?: string[] }) => {
      const config = loadConfig();
      const ledger = await createPostgresLedger({ databaseUrl: config.databaseUrl, evidenceDir: config.evidenceDir });
      try {
        const result = await ledger.verify(release);
        if (result.records === 0) throw new ReleaseCommandError(`no evidence recorded for ${release}`);
        if (result.ok) {
          print(`OK: ${result.records} records of ${release} verify; head seq ${result.head?.seq} ${result.head?.chainHash}`);
        } else {
          const b = result.firstBroken!;
          print(`BROKEN: ${release} record seq ${b.seq} (${b.key}): ${b.problem}: ${b.detail}`);
          outcome.exitCode = 1;
        }
        const records = await ledger.list(release);
        const dir = path.join(config.evidenceDir, release);
        const anchors = verifyAnchors({ release, records, dir, extra: opts.anchors, keyFile: opts.key });
        for (const line of anchors.lines) print(line);
        if (!anchors.ok) outcome.exitCode = 1;
        if (result.ok && anchors.ok) {
          // Only an intact chain is mirrored: a mirror left behind by a crash is completed here.
          await ledger.syncMirror(release).then(
            (written) => {
              if (written.length > 0) print(`mirror: rewrote ${written.length} file(s) of ${dir} from the ledger: ${written.join(', ')}`);
            },
            (error: Error) => print(`mirror: could not bring ${dir} in line with the ledger: ${error.message}`),
          );
        } else if (result.ok) {
          print('mirror: left as it is until every anchor is checked and holds: its files may still show what was anchored');
        }
        const completeness = completenessOf(records, opts.plan ? loadPlanFileWith(opts.plan, {}) : undefined, { outside: fs.existsSync(path.join(dir, ANCHORS_FILE)) ? [ANCHORS_FILE] : [] });
        for (const line of completeness.lines) print(line);
        if (!completeness.ok) outcome.exitCode = 1;
      } finally {
        await ledger.close();
      }
    });

  program
    .command('provenance')
    .description('signed evidence (DSSE envelopes, Ed25519)')
    .command('verify')
    .description('verify build_provenance_<v>.json or go_nogo_signed_<v>.txt with the signer\'s public key')
    .argument('<file>')
    .requiredOption('--key <public.pem>', 'the signer\'s Ed25519 public key (PEM)')
    .option('--artifact <files...>', 'also check that these files (e.g. sbom_<v>.json) are subjects of the provenance')
    .action((file: string, opts: { key: string; artifact?: string[] }) => {
      for (const line of verifySignedFile(file, opts.key, opts.artifact ?? [])) print(line);
    });

  const planCmd = program.command('plan').description('release plans');
  planCmd
    .command('check')
    .description('validate a release plan and summarise it')
    .argument('<plan>')
    .action((file: string) => {
      const plan = loadPlanFileWith(file, {});
      assertLicencePolicy(plan, file);
      print(`OK: ${plan.service} ${plan.version}: ${plan.canary.stages.length} stages, ${plan.signals.length} signals, ${plan.triggers.length} triggers, time scale ${plan.timeScale}`);
    });
  planCmd
    .command('card')
    .description('render a plan as the one-page operator card (markdown): stages, signals, triggers, commands')
    .argument('<plan>')
    .option('--out <file>', 'write the card to this file instead of printing it')
    .action((file: string, opts: { out?: string }) => {
      const plan = loadPlanFileWith(file, {});
      const card = renderOperatorCard(plan, { planFile: file, release: releaseId(plan.service, plan.version) });
      if (opts.out) fs.writeFileSync(opts.out, card);
      else print(card.trimEnd());
    });

  program
    .command('judge')
    .description("the canary's judgment outside a release")
    .command('backtest')
    .description("replay a plan's canary judgment over a past window of Prometheus: the evaluation timeline and the verdict it would have reached")
    .requiredOption('--plan <file>', 'release plan (YAML)')
    .requiredOption('--from <time>', 'start of the window, where the first stage begins: ISO-8601 (2025-03-03T12:00:00Z) or relative (-2h, now-90m)')
    .requiredOption('--to <time>', 'end of the window: ISO-8601, relative, or now')
    .option('--prometheus <url>', 'Prometheus to read (default: $PROMETHEUS_URL or http://127.0.0.1:9090)')
    .option('--stage <n>', 'the stage the window begins in (default 1)', stageNumber)
    .option('--json', 'print the whole replay as JSON (raw values)')
    .action(async (opts: { plan: string; from: string; to: string; prometheus?: string; stage?: number; json?: boolean }) => {
      let plan;
      try {
        plan = loadPlanFileWith(opts.plan, {});
      } catch (err) {
        if (err instanceof PlanError) throw new ReleaseCommandError(`--plan: ${err.message}`);
        throw err;
      }
      const now = Date.now();
      const from = parseTime(opts.from, '--from', now);
      const to = parseTime(opts.to, '--to', now);
      if (to <= from) throw new ReleaseCommandError(`--to: ${new Date(to).toISOString()} is not after --from ${new Date(from).toISOString()}`);
      if (to > now) throw new ReleaseCommandError(`--to: ${new Date(to).toISOString()} is in the future; a backtest replays what Prometheus has recorded`);
      const stages = plan.canary.stages.length;
      if (opts.stage !== undefined && opts.stage > stages) throw new ReleaseCommandError(`--stage: the plan has ${stages} canary stages, not ${opts.stage}`);
      const url = opts.prometheus ?? loadConfig().prometheusUrl;
      try {
        requireHttpUrl(url, '--prometheus');
      } catch (err) {
        throw new ReleaseCommandError((err as Error).message);
      }
      const metrics = createPrometheusProvider({ baseUrl: url, timeoutMs: plan.metrics.queryTimeout });
      // Every evaluation of an unreachable Prometheus would be a query error: say so once instead.
      const probe = await metrics.instant('vector(1)', new Date(from));
      if (probe.kind === 'query-error') throw new ReleaseCommandError(`--prometheus: ${probe.message}`);
      const result = await backtest({ plan, metrics, from, to, firstStage: (opts.stage ?? 1) - 1 });
      print(opts.json ? JSON.stringify(result, null, 2) : formatBacktest(plan, result, { planFile: opts.plan, prometheus: url }));
    });

  program
    .command('rules')
    .description('Prometheus rules from a plan')
    .command('export')
    .description('write recording rules for the signals, an alert per trigger and the SLO burn-rate alerts (check with promtool check rules)')
    .argument('<plan>')
    .option('--out <file>', 'write the rule file here instead of printing it')
    .action((file: string, opts: { out?: string }) => {
      const plan = loadPlanFileWith(file, {});
      const text = renderRuleFile(plan, file);
      if (!opts.out) return print(text.trimEnd());
      fs.writeFileSync(opts.out, text);
      const groups = exportRules(plan).groups;
      const alerts = groups.flatMap((g) => g.rules).filter((r) => 'alert' in r).length;
      print(`wrote ${opts.out}: ${groups.flatMap((g) => g.rules).length - alerts} recording rules and ${alerts} alerts for ${plan.service} ${plan.version}`);
    });

  return program;
}

/** Runs the CLI; returns the exit code. Errors are printed plainly, never as stack traces. */
export async function main(argv: string[], print: (line: string) => void = console.log, printError: (line: string) => void = console.error): Promise<number> {
  const outcome = { exitCode: 0 };
  const program = buildCli(print, printError, outcome);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return outcome.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof PlanError || err instanceof ReleaseCommandError || err instanceof RefusedError) {
      printError(`error: ${err.message}`);
      return 2;
    }
    printError(`error: ${(err as Error).message}`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
