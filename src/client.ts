// `spark-release`: start, watch, steer and verify releases from a terminal.
import os from 'node:os';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { createPostgresLedger } from './adapters/ledger/postgres';
import { loadConfig } from './config';
import { formatStatus, formatProgress } from './cli/format';
import { loadPlanFileWith } from './plan/loader';
import { PlanError } from './plan/schema';
import { ReleaseClient, ReleaseCommandError } from './release-client';
import { parseControl, parseGateDecision, RefusedError } from './workflows/validate';
import { statusQuery, type ReleaseStatus } from './workflows/messages';

/** Who is acting: --as, else SPARK_RELEASE_USER, else the OS user. */
function actor(as: string | undefined): string {
  return as ?? process.env.SPARK_RELEASE_USER ?? os.userInfo().username;
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
    const { handle, description } = await client.handle(release);
    const status = await handle.query(statusQuery);
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
      await withClient(async (client) => {
        const started = await client.start(plan, actor(opts.as), opts.dryRun ?? false);
        print(`started ${started.release} (run ${started.runId})${opts.dryRun ? ' as a dry run' : ''}`);
        print(`Temporal UI: ${loadConfig().temporalUiUrl}/namespaces/${process.env.TEMPORAL_NAMESPACE ?? 'default'}/workflows/${started.release}`);
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
      .action(async (release: string, opts: { reason: string; as?: string; gate: string; run?: string; override?: boolean }) => {
        const input = { release, gate: opts.gate, decision, approver: actor(opts.as), reason: opts.reason, ...(opts.override ? { override: true } : {}) };
        // Same checks as the workflow's validator, before anything is sent.
        const checked = parseGateDecision({ ...input, runId: opts.run ?? '(current run)' });
        await withClient(async (client) => {
          const result = await client.decide({ ...checked, runId: opts.run });
          print(`${decision.toUpperCase()} recorded for ${release} gate ${result.gate} by ${result.recorded.by}; gate is now ${result.state}`);
        });
      });
  }

  for (const kind of ['abort', 'hold', 'resume'] as const) {
    program
      .command(kind)
      .description(kind === 'abort' ? 'stop a release; traffic goes back to 0% through the rollback path' : kind === 'hold' ? 'pause the current canary stage' : 'resume a held stage')
      .argument('<release>')
      .requiredOption('--reason <text>', 'why (recorded with your name)')
      .option('--as <person>', 'who (default: $SPARK_RELEASE_USER or your user name)')
      .action(async (release: string, opts: { reason: string; as?: string }) => {
        const control = parseControl({ by: actor(opts.as), reason: opts.reason });
        await withClient(async (client) => {
          await client.control(release, kind, control);
          print(`${kind} sent to ${release} as ${actor(opts.as)}; \`spark-release status ${release}\` shows whether it was accepted`);
        });
      });
  }

  const evidence = program.command('evidence').description('the evidence ledger');
  evidence
    .command('verify')
    .description('recompute the hash chain of a release and report the first broken link')
    .argument('<release>')
    .action(async (release: string) => {
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
      } finally {
        await ledger.close();
      }
    });

  const planCmd = program.command('plan').description('release plans');
  planCmd
    .command('check')
    .description('validate a release plan and summarise it')
    .argument('<plan>')
    .action((file: string) => {
      const plan = loadPlanFileWith(file, {});
      print(`OK: ${plan.service} ${plan.version}: ${plan.canary.stages.length} stages, ${plan.signals.length} signals, ${plan.triggers.length} triggers, time scale ${plan.timeScale}`);
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
