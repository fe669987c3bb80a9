// Slack and the pager, for real: the @slack/web-api client against a local fake
// of the Web API, the evidence ledger in the real PostgreSQL, the receiver
// behind real HTTP with genuinely signed (and forged) requests, the release
// client against the real Temporal dev server, and pagers over real HTTP and /bin/sh.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { unconfiguredNotifier } from '../../src/adapters/chat/notifier';
import { createSlackNotifier } from '../../src/adapters/chat/slack';
import type { EvidenceLedger } from '../../src/adapters/ledger/ledger';
import { createPostgresLedger } from '../../src/adapters/ledger/postgres';
import { createCommandPager } from '../../src/adapters/pager/command';
import type { Page } from '../../src/adapters/pager/pager';
import { createWebhookPager } from '../../src/adapters/pager/webhook';
import { createNotifyActivities, INTENTS_FILE } from '../../src/activities/notify';
import { firstWriterWinsOnRetry } from '../../src/activities/evidence-retry';
import { loadConfig } from '../../src/config';
import { ReleaseClient } from '../../src/release-client';
import { decodeButton, type GatePrompt } from '../../src/slack/blocks';
import { startSlackReceiver, type SlackReceiver } from '../../src/slack/receiver';
import { blockActionPayload, buttonIn, FakeSlack, postInteraction, replay } from '../support/fake-slack';

const FAST = { attempts: 3, initialDelayMs: 20, maxDelayMs: 100 };
const SECRET = 'test-signing-secret-0f1e2d3c';
const config = loadConfig();

let slack: FakeSlack;
let ledger: EvidenceLedger;

beforeAll(async () => {
  slack = await FakeSlack.start();
  ledger = await createPostgresLedger({ databaseUrl: config.databaseUrl, evidenceDir: fs.mkdtempSync(path.join(os.tmpdir(), 'slack-it-')) });
});

afterAll(async () => {
  await ledger?.close();
  await slack?.close();
});

afterEach(() => slack.outage(false));

const notifier = () => createSlackNotifier({ token: slack.token, apiUrl: slack.url, retry: FAST });

describe('Slack notifier over @slack/web-api', () => {
  it('posts the exact message, answers with the channel ID, and replaces it by that ID', async () => {
    const n = notifier();
    const before = slack.calls.length;
    const posted = await n.post('#spark-warroom-v9-9-9', { text: 'War-room open', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: '*War-room open*' } }] });
    expect(posted).toMatchObject({ delivered: true, attempts: 1, message: { channel: slack.channelId('#spark-warroom-v9-9-9') } });
    const call = slack.calls[before]!;
    expect(call).toMatchObject({ method: 'chat.postMessage', token: slack.token, args: { channel: '#spark-warroom-v9-9-9', text: 'War-room open' } });
    expect(call.args.blocks).toEqual([{ type: 'section', text: { type: 'mrkdwn', text: '*War-room open*' } }]);

    const updated = await n.update(posted.message!, { text: 'closed' });
    expect(updated.delivered).toBe(true);
    // No blocks means an empty list: the buttons of the old message go away.
    expect(slack.message(posted.message!.channel, posted.message!.ts)).toMatchObject({ text: 'closed', blocks: [] });
    // chat.update by channel name is refused by Slack, and not retried.
    const byName = await n.update({ channel: '#spark-warroom-v9-9-9', ts: posted.message!.ts }, { text: 'x' });
    expect(byName).toMatchObject({ delivered: false, attempts: 1 });
    expect(byName.detail).toMatch(/Slack answered channel_not_found/);
  });

  it('retries HTTP 5xx and rate limits, then delivers, counting the attempts', async () => {
    slack.failNext('chat.postMessage', 2, { status: 503 });
    expect(await notifier().post('#spark-deploys', { text: 'after two 503s' })).toMatchObject({ delivered: true, attempts: 3 });
    slack.failNext('chat.postMessage', 1, { rateLimitedSeconds: 0 });
    expect(await notifier().post('#spark-deploys', { text: 'after a 429' })).toMatchObject({ delivered: true, attempts: 2 });
  });

  it('an outage is a delivery that did not happen, after the bounded attempts', async () => {
    slack.outage(true);
    const d = await notifier().post('#spark-deploys', { text: 'nobody hears this' });
    expect(d).toMatchObject({ delivered: false, attempts: 3 });
    expect(d.detail).toBe('not delivered (chat.postMessage #spark-deploys) after 3 attempts: HTTP 503 Service Unavailable');
  });

  it('a wrong token is refused by Slack and not retried', async () => {
    const d = await createSlackNotifier({ token: 'xoxb-wrong', apiUrl: slack.url, retry: FAST }).post('#spark-deploys', { text: 'x' });
    expect(d).toMatchObject({ delivered: false, attempts: 1 });
    expect(d.detail).toMatch(/invalid_auth/);
  });

  it('refuses bad settings naming the field', () => {
    expect(() => createSlackNotifier({ token: '' })).toThrow(/^token:/);
    expect(() => createSlackNotifier({ token: 'x', apiUrl: 'slack.com/api' })).toThrow(/^apiUrl must be an http\(s\) URL/);
    expect(() => createSlackNotifier({ token: 'x', retry: { attempts: 0, initialDelayMs: 1, maxDelayMs: 1 } })).toThrow(/^retry.attempts/);
  });
});

/** Runs each activity in an activity context, as a worker would (they log through it). */
function inActivity<T extends Record<string, (...args: never[]) => Promise<unknown>>>(acts: T): T {
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
  return Object.fromEntries(Object.entries(acts).map(([name, fn]) => [name, (...args: never[]) => env.run(fn, ...args)])) as unknown as T;
}

describe('announce and page activities', () => {
  const ref = () => ({ release: `release-slack-it-${process.pid}-${Date.now()}`, runId: 'run-1', service: 'spark-trading', version: 'v9.9.9' });

  it('records what was said and that it was delivered, with the message reference', async () => {
    const r = ref();
    const acts = inActivity(createNotifyActivities({ ledger, notifier: notifier() }));
    const prompt: GatePrompt = {
      kind: 'gate', release: r.release, runId: r.runId, service: r.service, version: r.version, dryRun: false, gate: 'go', title: 'GO/NO-GO',
      state: 'open', checklist: [{ item: 'Preflight', ok: true, detail: '10/10 pass' }], approvers: [{ id: 'bora', name: 'Bora Demir', slack: 'U0BORA001' }],
      quorum: 1, deadline: '2030-01-01T00:00:00.000Z', decisions: [],
    };
    const result = await acts.announce({ ...r, channel: '#spark-warroom-v9-9-9', text: 'GO/NO-GO open', key: 'announce/gate', prompt });
    expect(result.delivered).toBe(true);
    const posted = slack.accepted('chat.postMessage').at(-1)!;
    expect(posted.args.text).toBe('GO/NO-GO open');
    // The GO button binds release, run and gate; a complete checklist needs no override.
    expect(decodeButton(buttonIn(posted.args.blocks, 'spark:go').value)).toEqual({ release: r.release, runId: r.runId, target: 'go', action: 'go' });
    expect(buttonIn(posted.args.blocks, 'spark:no-go').confirm).toBeDefined();
    const record = (await ledger.list(r.release)).find((x) => x.file !== INTENTS_FILE);
    expect(record).toMatchObject({ file: 'announcements.txt', key: 'announce/gate' });
    expect(record!.body).toContain('#spark-warroom-v9-9-9 GO/NO-GO open');
    expect(record!.body).toContain(`-> delivered (chat.postMessage #spark-warroom-v9-9-9 ${result.message!.channel} ts ${result.message!.ts}) in 1 attempt`);
  });

  it('a Slack outage never fails the activity: the evidence says it was not delivered', async () => {
    const r = ref();
    slack.outage(true);
    const result = await inActivity(createNotifyActivities({ ledger, notifier: notifier() })).announce({ ...r, channel: '#spark-deploys', text: 'Change freeze', key: 'announce/freeze' });
    expect(result.delivered).toBe(false);
    const record = (await ledger.list(r.release)).find((x) => x.file !== INTENTS_FILE);
    expect(record!.body).toMatch(/Change freeze\n {2}-> not delivered \(chat.postMessage #spark-deploys\) after 3 attempts: HTTP 503/);
  });

  it('the ledger dropping between the send and its record posts the message once, and records it once', async () => {
    const r = ref();
    let dropNext = false;
    // The real ledger, whose connection drops right after the message went out.
    const dropping: EvidenceLedger = {
      appendMany: async (inputs) => {
        if (dropNext && inputs.some((i) => i.file === 'announcements.txt')) {
          dropNext = false;
          throw new Error('Connection terminated unexpectedly');
        }
        return ledger.appendMany(inputs);
      },
      append: async (input) => (await dropping.appendMany([input]))[0]!,
      list: (release) => ledger.list(release),
      verify: (release) => ledger.verify(release),
      close: async () => undefined,
    };
    // As the worker composes it: a retry keeps what its first attempt recorded.
    const acts = createNotifyActivities({ ledger: firstWriterWinsOnRetry(dropping), notifier: notifier() });
    const req = { ...r, channel: '#spark-warroom-v9-9-9', text: `ROLLBACK ${r.release}`, key: 'announce/rollback' };
    const before = slack.accepted('chat.postMessage').length;
    dropNext = true;
    await expect(new MockActivityEnvironment({ attempt: 1 }, { logger: new DefaultLogger('ERROR') }).run(acts.announce, req)).rejects.toThrow(/Connection terminated/);
    const retried = await new MockActivityEnvironment({ attempt: 2 }, { logger: new DefaultLogger('ERROR') }).run(acts.announce, req);
    expect(retried).toMatchObject({ delivered: true });
    expect(slack.accepted('chat.postMessage').slice(before).filter((c) => c.args.text === req.text)).toHaveLength(1);
    const records = await ledger.list(r.release);
    expect(records.map((x) => [x.file, x.key])).toEqual([[INTENTS_FILE, 'announce/rollback/intent'], ['announcements.txt', 'announce/rollback']]);
  });

  it('with nothing configured, the evidence says so instead of pretending', async () => {
    const r = ref();
    const acts = inActivity(createNotifyActivities({ ledger }));
    expect(await acts.announce({ ...r, channel: '#spark-deploys', text: 'x', key: 'announce/x' })).toMatchObject({ delivered: false });
    expect(await acts.page({ ...r, reason: 'stage 2 cannot be judged', key: 'page/1', to: ['bora'] })).toMatchObject({ delivered: false });
    const bodies = (await ledger.list(r.release)).filter((x) => x.file !== INTENTS_FILE).map((x) => x.body);
    expect(bodies[0]).toContain('-> not delivered: Slack not configured (set SLACK_BOT_TOKEN)');
    expect(bodies[1]).toMatch(/page to bora: stage 2 cannot be judged\n {2}-> not delivered: no pager configured/);
    expect(unconfiguredNotifier.configured).toBe(false);
  });
});

describe('pagers', () => {
  const page: Page = {
    release: 'release-spark-trading-v9.9.9', runId: 'run-1', service: 'spark-trading', version: 'v9.9.9', kind: 'escalation',
    reason: 'GO/NO-GO has waited 20m', to: ['bora'], route: 'spark-trading', key: 'release-spark-trading-v9.9.9/run-1/page/gate/go/escalation', at: '2030-01-01T00:00:00.000Z',
  };

  it('the webhook pager POSTs the page as JSON with an idempotency key, retrying a 5xx', async () => {
    const received: { body: unknown; key: string | undefined }[] = [];
    let failures = 1;
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push({ body: JSON.parse(body), key: req.headers['idempotency-key'] as string | undefined });
        res.writeHead(failures-- > 0 ? 502 : 202).end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/page?routing_key=secret`;
      const d = await createWebhookPager({ url, retry: FAST }).page(page);
      expect(d).toEqual({ delivered: true, attempts: 2, detail: 'delivered (webhook HTTP 202) in 2 attempts' });
      expect(received).toHaveLength(2);
      expect(received[1]).toEqual({ body: page, key: page.key });
    } finally {
      server.close();
    }
  });

  it('an unreachable webhook is not delivered, and the evidence shows the host, not the URL with its key', async () => {
    const d = await createWebhookPager({ url: 'http://127.0.0.1:9/page?routing_key=secret', retry: FAST, timeoutMs: 2000 }).page(page);
    expect(d.delivered).toBe(false);
    expect(d.attempts).toBe(3);
    expect(d.detail).toMatch(/unreachable at http:\/\/127\.0\.0\.1:9/);
    expect(d.detail).not.toContain('secret');
  });

  it('the command pager gets the page on stdin and in SPARK_PAGE_*; a non-zero exit is not delivered', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pager-'));
    const out = path.join(dir, 'page.json');
    const ok = await createCommandPager({ command: `cat > ${out}; echo "paged $SPARK_PAGE_TO via $SPARK_PAGE_ROUTE"`, retry: FAST }).page(page);
    expect(ok).toEqual({ delivered: true, attempts: 1, detail: 'delivered (command exit 0: paged bora via spark-trading) in 1 attempt' });
    expect(JSON.parse(fs.readFileSync(out, 'utf8'))).toEqual(page);
    const bad = await createCommandPager({ command: 'echo "pager API down" >&2; exit 3', retry: FAST }).page(page);
    expect(bad).toEqual({ delivered: false, attempts: 3, detail: 'not delivered (command) after 3 attempts: pager command exited with code 3: pager API down' });
  });
});

describe('the interaction receiver', () => {
  let client: ReleaseClient;
  let receiver: SlackReceiver;
  const log: string[] = [];

  beforeAll(async () => {
    client = await ReleaseClient.connect(`slack-it-${process.pid}`);
    receiver = await startSlackReceiver({ signingSecret: SECRET, releases: client, notifier: notifier(), log: (l) => log.push(l) });
  });

  afterAll(async () => {
    await receiver?.close();
    await client?.close();
  });

  const click = (value: Record<string, unknown>, user = 'U0BORA001') =>
    blockActionPayload({
      user, channel: slack.channelId('#spark-warroom-v9-9-9'), ts: '1700000000.000001',
      button: { action_id: 'spark:go', block_id: 'spark-gate-go', text: { text: 'GO' }, value: JSON.stringify(value) },
    });
  const NO_RUN = '00000000-0000-4000-8000-000000000000';
  const noSuchRelease = { r: `release-nobody-${Date.now()}`, u: NO_RUN, t: 'go', a: 'go' };

  it('a forged, stale, future-dated or replayed request is refused with 401 and reaches nothing', async () => {
    const before = slack.calls.length;
    const now = Math.floor(Date.now() / 1000);
    expect((await postInteraction(receiver.url, 'not-the-secret', click(noSuchRelease))).status).toBe(401);
    expect((await postInteraction(receiver.url, SECRET, click(noSuchRelease), { timestamp: now - 301 })).status).toBe(401);
    expect((await postInteraction(receiver.url, SECRET, click(noSuchRelease), { timestamp: now + 301 })).status).toBe(401);
    expect((await postInteraction(receiver.url, SECRET, click(noSuchRelease), { signature: 'v0=' + '0'.repeat(64) })).status).toBe(401);
    expect(log.filter((l) => /request refused \((mismatch|stale|future-dated)\)/.test(l))).toHaveLength(4);
    expect(slack.calls.length).toBe(before);

    const first = await postInteraction(receiver.url, SECRET, click(noSuchRelease));
    expect(first.status).toBe(200);
    await slack.waitFor((c) => c.method === 'chat.postEphemeral' && slack.calls.indexOf(c) >= before);
    const afterFirst = slack.calls.length;
    expect(await replay(receiver.url, first.raw)).toBe(401);
    expect(log.at(-1)).toMatch(/request refused \(replayed\)/);
    expect(slack.calls.length).toBe(afterFirst);
  });

  it('acknowledges before doing the work: the HTTP answer arrives while the refusal is still on its way', async () => {
    const release = slack.hold('chat.postEphemeral');
    const before = slack.callsOf('chat.postEphemeral').length;
    try {
      const answered = await postInteraction(receiver.url, SECRET, click({ ...noSuchRelease, r: `release-nobody-${Date.now()}-2` }));
      expect(answered.status).toBe(200);
      // The refusal was sent after the acknowledgement and is still held unanswered by the fake.
      await slack.waitFor((c) => c.method === 'chat.postEphemeral' && slack.callsOf('chat.postEphemeral').indexOf(c) >= before);
      expect(slack.callsOf('chat.postEphemeral').at(-1)!.answer.status).toBe(0);
    } finally {
      release();
    }
  });

  it('a click for a release that does not exist, or a button that is not ours, gets an ephemeral refusal', async () => {
    await postInteraction(receiver.url, SECRET, click({ ...noSuchRelease, r: 'release-none-here' }, 'U0CEM0001'));
    const refusal = await slack.waitFor((c) => c.method === 'chat.postEphemeral' && String(c.args.text).includes('release-none-here'));
    expect(refusal.args).toMatchObject({ user: 'U0CEM0001', channel: slack.channelId('#spark-warroom-v9-9-9') });
    expect(refusal.args.text).toBe(`Not done: no release release-none-here with run ${NO_RUN}. Nothing changed.`);

    await postInteraction(receiver.url, SECRET, click({ hello: 'world' }, 'U0ELIF001'));
    const odd = await slack.waitFor((c) => c.method === 'chat.postEphemeral' && c.args.user === 'U0ELIF001');
    expect(odd.args.text).toMatch(/not a spark-release control \(field r is missing\)/);
  });
});
