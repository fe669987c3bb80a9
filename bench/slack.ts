// Slack timings: how fast the receiver acknowledges a signed click (Slack
// wants an answer within 3 s) and how long the click takes to be answered
// (here: a refusal, after a real lookup in the local Temporal), and how long
// an announcement can hold a release up while Slack is down.
//
//   npx tsx bench/slack.ts [--clicks 200]
//
// Needs the local Temporal (`bash scripts/services.sh up`); no worker.
import { parseArgs } from 'node:util';
import { createSlackNotifier } from '../src/adapters/chat/slack';
import { ReleaseClient } from '../src/release-client';
import { startSlackReceiver } from '../src/slack/receiver';
import { blockActionPayload, FakeSlack, postInteraction } from '../test/support/fake-slack';

const SECRET = 'bench-signing-secret';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function summary(label: string, ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  return `${label}: n=${s.length} p50=${percentile(s, 50).toFixed(1)}ms p95=${percentile(s, 95).toFixed(1)}ms max=${s.at(-1)!.toFixed(1)}ms`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { clicks: { type: 'string', default: '200' } } });
  const clicks = Number(values.clicks);
  const slack = await FakeSlack.start();
  const releases = await ReleaseClient.connect('bench-slack');
  const notifier = createSlackNotifier({ token: slack.token, apiUrl: slack.url });
  const receiver = await startSlackReceiver({ signingSecret: SECRET, releases, notifier, log: () => undefined });
  try {
    const acks: number[] = [];
    const answered: number[] = [];
    for (let i = 0; i < clicks; i++) {
      const release = `release-bench-${Date.now()}-${i}`;
      const value = JSON.stringify({ r: release, u: '00000000-0000-4000-8000-000000000000', t: 'go', a: 'go' });
      const payload = blockActionPayload({ user: 'U0BORA001', channel: 'C00000001', ts: '1.1', button: { action_id: 'spark:go', block_id: 'b', text: { text: 'GO' }, value } });
      const t0 = performance.now();
      const res = await postInteraction(receiver.url, SECRET, payload);
      acks.push(performance.now() - t0);
      if (res.status !== 200) throw new Error(`click ${i}: HTTP ${res.status}`);
      await slack.waitFor((c) => c.method === 'chat.postEphemeral' && String(c.args.text).includes(release), 10_000);
      answered.push(performance.now() - t0);
    }
    console.log(summary('ack (HTTP 200 to Slack)', acks));
    console.log(summary('click answered (ephemeral refusal posted)', answered));

    // An outage: every call answers 503; the notifier gives up after its bounded attempts.
    slack.outage(true);
    const t0 = performance.now();
    const d = await notifier.post('#spark-deploys', { text: 'during an outage' });
    console.log(`announcement during a Slack outage (HTTP 503): ${(performance.now() - t0).toFixed(0)}ms, ${d.detail}`);
  } finally {
    await receiver.close();
    await releases.close();
    await slack.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
