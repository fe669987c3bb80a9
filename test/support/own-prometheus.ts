// A Prometheus of our own on a free loopback port, for tests and benchmarks that
// must not disturb the shared one (scripts/services.sh): they scrape their own
// targets, and may stop and restart it to simulate an outage. The data directory
// survives a restart, as a real server's would.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import YAML from 'yaml';
import { loadConfig } from '../../src/config';

export interface OwnPrometheus {
  url: string;
  port: number;
  /** Stops the server (SIGTERM, then SIGKILL); resolves when it has exited. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data; does nothing while it runs. */
  start(): Promise<void>;
  /** SIGSTOP: the port still accepts connections, nothing answers (a hung server). */
  freeze(): void;
  /** SIGCONT after a freeze. */
  thaw(): void;
  /** Stops it and deletes its data. */
  close(): Promise<void>;
}

export interface OwnPrometheusOptions {
  /** Scrape jobs: job name to `host:port` targets. */
  jobs: Record<string, string[]>;
  scrapeInterval?: string;
  port?: number;
  /** Rule files to load (absolute paths), evaluated at the scrape interval. */
  ruleFiles?: string[];
  /** A directory of TSDB blocks (e.g. from promtool) copied into the data directory before the first start. */
  blocks?: string;
  /** --storage.tsdb.retention.time; recorded blocks may be older than the default 15 days. */
  retention?: string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function ready(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

export async function startOwnPrometheus(opts: OwnPrometheusOptions): Promise<OwnPrometheus> {
  const port = opts.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spark-prometheus-'));
  const interval = opts.scrapeInterval ?? '1s';
  const config = {
    global: { scrape_interval: interval, evaluation_interval: interval },
    ...(opts.ruleFiles?.length ? { rule_files: opts.ruleFiles } : {}),
    scrape_configs: Object.entries(opts.jobs).map(([job, targets]) => ({ job_name: job, static_configs: [{ targets }] })),
  };
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), YAML.stringify(config));
  if (opts.blocks) fs.cpSync(opts.blocks, path.join(dir, 'data'), { recursive: true });
  const binary = path.join(loadConfig().toolsBin, 'prometheus');
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  const start = async () => {
    if (child && child.exitCode === null) return; // already running: a second one could not bind the port
    const log = fs.openSync(path.join(dir, 'prometheus.log'), 'a');
    const proc = spawn(binary, [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      ...(opts.retention ? [`--storage.tsdb.retention.time=${opts.retention}`] : []),
    ], { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    child = proc;
    exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    const deadline = Date.now() + 30_000;
    while (!(await ready(url))) {
      if (proc.exitCode !== null) throw new Error(`prometheus on port ${port} exited: ${fs.readFileSync(path.join(dir, 'prometheus.log'), 'utf8').slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`prometheus on port ${port} not ready within 30 s`);
      await sleep(100);
    }
  };
  const stop = async () => {
    const proc = child;
    if (!proc || proc.exitCode !== null) return;
    proc.kill('SIGCONT'); // a frozen server would not act on SIGTERM
    proc.kill('SIGTERM');
    const kill = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(kill);
    child = null;
  };
  await start();
  const signal = (sig: NodeJS.Signals) => {
    if (child && child.exitCode === null) child.kill(sig);
  };
  return {
    url, port, stop, start,
    freeze: () => signal('SIGSTOP'),
    thaw: () => signal('SIGCONT'),
    async close() {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A Prometheus that scrapes nothing and serves recorded series: `openMetrics` (OpenMetrics text with
 * timestamps, ending in `# EOF`) turned into blocks by `promtool tsdb create-blocks-from openmetrics`.
 */
export async function startRecordedPrometheus(openMetrics: string): Promise<OwnPrometheus> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spark-recorded-'));
  try {
    const input = path.join(dir, 'recorded.om');
    fs.writeFileSync(input, openMetrics);
    execFileSync(path.join(loadConfig().toolsBin, 'promtool'), ['tsdb', 'create-blocks-from', 'openmetrics', '--quiet', input, path.join(dir, 'blocks')], { stdio: 'pipe' });
    return await startOwnPrometheus({ jobs: {}, blocks: path.join(dir, 'blocks'), retention: '100y' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
