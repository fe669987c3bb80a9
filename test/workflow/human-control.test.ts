// Human control end to end: releases on the real Temporal dev server with the
// real demo target, Prometheus and PostgreSQL; the worker talks to a local fake
// of Slack's Web API through the real @slack/web-api client and pages a real
// HTTP webhook; people click buttons through the real receiver with requests
// signed the way Slack signs them.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { createSlackNotifier } from '../../src/adapters/chat/slack';
import type { Page } from '../../src/adapters/pager/pager';
import { loadConfig } from '../../src/config';
import { previewRollback } from '../../src/cli/rollback-preview';
import { decodeButton, GO_OVERRIDE_CALLBACK, OVERRIDE_REASON } from '../../src/slack/blocks';
import { startSlackReceiver, type SlackReceiver } from '../../src/slack/receiver';
import type { ReleaseStatus } from '../../src/workflows/messages';
import { blockActionPayload, buttonIn, FakeSlack, postInteraction, viewSubmissionPayload, type SlackCall } from '../support/fake-slack';
import { openGoWithFullChecklist, startHarness, uniquePlan, waitForStatus, type Harness } from '../support/harness';

const SECRET = 'workflow-test-signing-secret';
const USERS = { deniz: 'U0DENIZ01', bora: 'U0BORA001', cem: 'U0CEM0001', elif: 'U0ELIF001', stranger: 'U0STRANGE' } as const;
const config = loadConfig();
const saved = { ...process.env };

let slack: FakeSlack;
let h: Harness;
let receiver: SlackReceiver;
let pagerServer: http.Server;
const pages: Page[] = [];

beforeAll(async () => {
  slack = await FakeSlack.start();
  pagerServer = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      pages.push(JSON.parse(body) as Page);
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((r) => pagerServer.listen(0, '127.0.0.1', () => r()));
  // The worker builds its notifier and pager from the environment, as in production.
  process.env.SLACK_BOT_TOKEN = slack.token;
  process.env.SLACK_API_URL = slack.url;
  process.env.SPARK_PAGER_WEBHOOK = `http://127.0.0.1:${(pagerServer.address() as AddressInfo).port}/page`;
  h = await startHarness('human-control');
  receiver = await startSlackReceiver({
    signingSecret: SECRET, releases: h.client, notifier: createSlackNotifier({ token: slack.token, apiUrl: slack.url }), log: () => undefined,
  });
});

afterAll(async () => {
  await receiver?.close();
  await h?.close();
  await slack?.close();
  pagerServer?.close();
  process.env = saved;
});

afterEach(async () => {
  await h.target.setWeight(0);
});

/** A message the run posted, with a button `actionId` bound to it and to `target`. */
function promptCall(run: { release: string; runId: string }, actionId: string, target: string): Promise<SlackCall> {
  return slack.waitFor((c) => {
    if (c.method !== 'chat.postMessage' || c.answer.body.ok !== true) return false;
    try {
      const v = decodeButton(buttonIn(c.args.blocks, actionId).value);
      return v.release === run.release && v.runId === run.runId && v.target === target;
    } catch {
      return false;
    }
  }, 60_000);
}

interface MessageRef { channel: string; ts: string }

function refOf(call: SlackCall): MessageRef {
  return { channel: String(call.answer.body.channel), ts: String(call.answer.body.ts) };
}

/** Clicks `actionId` on the message as it looks now (after any chat.update), as `user`; returns the click's trigger. */
async function click(ref: MessageRef, actionId: string, user: string): Promise<string> {
  const message = slack.message(ref.channel, ref.ts);
  const button = buttonIn(message?.blocks, actionId);
  const payload = blockActionPayload({ user, channel: ref.channel, ts: ref.ts, button });
  const answer = await postInteraction(receiver.url, SECRET, payload);
  expect(answer.status).toBe(200);
  return String(payload.trigger_id);
}

/** The modal the receiver opened for a click's trigger. */
async function modalFor(trigger: string): Promise<Record<string, unknown>> {
  const opened = await slack.waitFor((c) => c.method === 'views.open' && c.args.trigger_id === trigger);
  expect(opened.answer.body.ok).toBe(true);
  return opened.args.view as Record<string, unknown>;
}

/** Submits a modal as `user` with `reason` typed; returns the receiver's HTTP answer. */
async function submit(view: Record<string, unknown>, user: string, reason: string): Promise<{ status: number; body: string }> {
  return postInteraction(receiver.url, SECRET, viewSubmissionPayload({ user, view, inputs: { [OVERRIDE_REASON.action]: reason } }));
}

/** The ephemeral message `user` got after `since` calls. */
function ephemeralTo(user: string, since: number): Promise<SlackCall> {
  return slack.waitFor((c) => c.method === 'chat.postEphemeral' && c.args.user === user && slack.calls.indexOf(c) >= since);
}

function updatesOf(ref: MessageRef, since = 0): SlackCall[] {
  return slack.calls.slice(since).filter((c) => c.method === 'chat.update' && c.args.channel === ref.channel && c.args.ts === ref.ts && c.answer.body.ok === true);
}

const text = (blocks: unknown) => JSON.stringify(blocks);
const decisionsTxt = (release: string) => fs.readFileSync(path.join(config.evidenceDir, release, 'decisions.txt'), 'utf8');

test('a release driven from Slack: GO by a signed click, refusals change nothing, the IC holds, hands over, promotes and rolls back', async () => {
  // Stages 1 and 2 last long enough (72 s) for people to act in them.
  const plan = uniquePlan({ canary: { stages: [{ traffic: 1, duration: '4h' }, { traffic: 5, duration: '4h' }, { traffic: 25, duration: '15m' }, { traffic: 50, duration: '15m' }, { traffic: 100, duration: '30m' }] } });
  const started = await h.client.start(plan, 'deniz');
  const { release, runId } = started;
  const gate = refOf(await promptCall(started, 'spark:go', 'go'));
  // Nobody answers the red team's items here, so the gate opens below 10/10.
  const before = await waitForStatus(h.client, release, (s) => s.gates.go.state === 'open');
  const passed = before.gates.go.checklist.filter((i) => i.ok).length;
  expect(before.gates.go.checklist.find((i) => i.item.startsWith('Red team'))?.ok).toBe(false);
  const go = buttonIn(slack.message(gate.channel, gate.ts)!.blocks, 'spark:go');
  expect(go.text.text).toBe(`GO (override, checklist ${passed}/10)`);
  expect(decodeButton(go.value)).toEqual({ release, runId, target: 'go', action: 'go', override: true });

  // Someone Slack knows but the plan does not: refused before anything opens.
  let mark = slack.calls.length;
  await click(gate, 'spark:go', USERS.stranger);
  expect((await ephemeralTo(USERS.stranger, mark)).args.text).toBe(`Not done: your Slack account (${USERS.stranger}) is not a person of ${release}'s plan. Nothing changed.`);
  // A person of the plan who is not an approver is asked for a reason, and the workflow refuses the submission.
  mark = slack.calls.length;
  const denizModal = await modalFor(await click(gate, 'spark:go', USERS.deniz));
  expect((await submit(denizModal, USERS.deniz, 'I want this out before the weekend')).status).toBe(200);
  expect((await ephemeralTo(USERS.deniz, mark)).args.text).toMatch(/approver: "deniz" may not decide gate go \(approvers: bora, cem, elif\)/);
  let status: ReleaseStatus = await h.client.status(release);
  expect(status.gates.go).toMatchObject({ state: 'open', decisions: [] });
  expect(status.decisions).toEqual([]);

  // bora's click opens the override's modal: what fails, and a reason to type. A reason too short is sent back.
  mark = slack.calls.length;
  const modal = await modalFor(await click(gate, 'spark:go', USERS.bora));
  expect(modal.callback_id).toBe(GO_OVERRIDE_CALLBACK);
  expect(JSON.stringify(modal.blocks)).toContain('Red team');
  const short = await submit(modal, USERS.bora, 'ok');
  expect(JSON.parse(short.body)).toEqual({ response_action: 'errors', errors: { [OVERRIDE_REASON.block]: expect.stringMatching(/at least 10 characters/) } });
  expect((await h.client.status(release)).gates.go.decisions).toEqual([]);
  // With a reason, the GO is an override on record with bora's own words; the message shows who decided and why.
  const reason = 'red team items are confirmed by phone with elif; the form was down';
  expect((await submit(modal, USERS.bora, reason)).status).toBe(200);
  status = await waitForStatus(h.client, release, (s) => s.gates.go.state === 'go');
  expect(status.gates.go.decisions).toEqual([expect.objectContaining({ by: 'bora', decision: 'go', reason, override: true, release, runId, accepted: true })]);
  const decided = await slack.waitFor((c) => updatesOf(gate, mark).includes(c));
  const at = status.gates.go.decisions[0]!.at;
  expect(text(decided.args.blocks)).toContain(`*GO* by <@${USERS.bora}> (bora) at ${at}: ${reason}`);
  expect(() => buttonIn(decided.args.blocks, 'spark:go')).toThrow(/no button spark:go/);
  // A click on the old copy of the message, on a gate already decided: refused, nothing recorded.
  mark = slack.calls.length;
  const stale = buttonIn(slack.calls.find((c) => c.method === 'chat.postMessage' && refOf(c).ts === gate.ts)!.args.blocks, 'spark:go');
  await postInteraction(receiver.url, SECRET, blockActionPayload({ user: USERS.cem, channel: gate.channel, ts: gate.ts, button: stale }));
  expect((await ephemeralTo(USERS.cem, mark)).args.text).toMatch(/gate: "go" is not open/);
  expect((await h.client.status(release)).gates.go.decisions).toHaveLength(1);

  // Stage 1 posts its controls. cem is neither the IC nor a delegate; bora (IC) holds; elif (delegate) resumes.
  const stage1 = refOf(await promptCall(started, 'spark:hold', 'stage-1'));
  mark = slack.calls.length;
  await click(stage1, 'spark:hold', USERS.cem);
  expect((await ephemeralTo(USERS.cem, mark)).args.text).toMatch(/by: "cem" may not hold the canary: only the incident commander \(bora\) or a delegate \(elif\) may/);
  await click(stage1, 'spark:hold', USERS.bora);
  await waitForStatus(h.client, release, (s) => s.held && s.stage?.state === 'paused');
  await slack.waitFor((c) => updatesOf(stage1, mark).includes(c) && text(c.args.blocks).includes('spark:resume'));
  await click(stage1, 'spark:resume', USERS.elif);
  status = await waitForStatus(h.client, release, (s) => !s.held && s.stage?.state === 'running');
  expect(status.stage?.index).toBe(0);

  // Hand-over from the CLI's client; the old IC may then no longer promote; the new one may.
  await h.client.handOver({ release, by: 'bora', to: 'cem', reason: 'bora leaves for the airport' });
  expect((await h.client.status(release)).incidentCommander).toBe('cem');
  await slack.waitFor((c) => c.method === 'chat.postMessage' && String(c.args.text).startsWith('Incident commander hand-over: <@U0BORA001> (bora) -> <@U0CEM0001> (cem) (by bora): bora leaves for the airport'));
  await expect(h.client.canaryControl('promote', { release, by: 'bora', reason: 'looks fine' })).rejects.toThrow(/by: "bora" may not promote now/);
  await h.client.canaryControl('promote', { release, by: 'cem', reason: 'stage 1 clean for 3 evaluations, business window closing' });
  status = await waitForStatus(h.client, release, (s) => s.stage?.index === 1);
  expect(status.stages[0]!.state).toBe('passed');
  expect(status.warroom.join('\n')).toContain('Stage 1 (1%) | promoted now by cem: stage 1 clean for 3 evaluations, business window closing | IC: Proceed');

  // The new IC rolls back from stage 2's message, confirming the dialog.
  const stage2 = refOf(await promptCall(started, 'spark:rollback', 'stage-2'));
  expect(buttonIn(slack.message(stage2.channel, stage2.ts)!.blocks, 'spark:rollback').confirm).toBeDefined();
  await click(stage2, 'spark:rollback', USERS.cem);
  const result = await h.client.result(release);
  status = await h.client.status(release);
  expect(result.verdict).toBe('rolled-back');
  expect(status.rollback).toMatchObject({ cause: 'manual', reason: 'rolled back by cem: Roll back from a Slack button', stage: 2, fromTraffic: 5 });
  expect(status.canaryWeight).toBe(0);
  expect((await h.target.setWeight(0)).previousCanaryPercent).toBe(0);

  // Every decision names its person, in the status and in the evidence.
  expect(status.decisions.map((d) => [d.kind, d.by, d.stage ?? null, d.to ?? null])).toEqual([
    ['gate', 'bora', null, null], ['hold', 'bora', 1, null], ['resume', 'elif', 1, null], ['handover', 'bora', null, 'cem'],
    ['promote', 'cem', 1, null], ['rollback', 'cem', 2, null],
  ]);
  const decisions = decisionsTxt(release);
  for (const line of ['hold by bora at stage 1 (1%): Hold from a Slack button', 'resume by elif at stage 1 (1%)', 'handover by bora: incident commander bora -> cem: bora leaves for the airport',
    'promote by cem at stage 1 (1%): stage 1 clean', 'rollback by cem at stage 2 (5%): Roll back from a Slack button']) {
    expect(decisions).toContain(line);
  }
  expect(fs.readFileSync(path.join(config.evidenceDir, release, `go_nogo_signed_${plan.version}.txt`), 'utf8')).toMatch(/GO by bora/);
  // The release's messages lost their buttons when it ended; a late click changes nothing.
  const last = updatesOf(stage2).at(-1)!;
  expect(() => buttonIn(last.args.blocks, 'spark:rollback')).toThrow(/no button/);
  expect(String(last.args.text)).toMatch(/Stage 2 \(5%\) of .* rolled back: rolled back by cem/);
  mark = slack.calls.length;
  const lateHold = buttonIn(slack.calls.find((c) => c.method === 'chat.postMessage' && refOf(c).ts === stage1.ts)!.args.blocks, 'spark:hold');
  await postInteraction(receiver.url, SECRET, blockActionPayload({ user: USERS.cem, channel: stage1.channel, ts: stage1.ts, button: lateHold }));
  expect((await ephemeralTo(USERS.cem, mark)).args.text).toMatch(/has ended \(COMPLETED\); nothing can change it any more/);
  expect((await h.client.status(release)).decisions).toHaveLength(6);
  // The rollback was announced with its reason and evidence.
  expect(slack.accepted('chat.postMessage').some((c) => String(c.args.text).startsWith(`ROLLBACK of ${plan.version}: rolled back by cem`) && String(c.args.text).includes('rollback_'))).toBe(true);
});

test('quorum 2 of 3: the initiator may not approve, one approver counts once, the second GO opens the gate', async () => {
  const plan = uniquePlan({ gates: { go: { quorum: 2 } } });
  const started = await h.client.start(plan, 'elif');
  const { release } = started;
  // The red team answered: the checklist is 10/10, so each GO click decides at once.
  await openGoWithFullChecklist(h.client, release);
  const gate = refOf(await promptCall(started, 'spark:go', 'go'));

  let mark = slack.calls.length;
  await click(gate, 'spark:go', USERS.elif);
  expect((await ephemeralTo(USERS.elif, mark)).args.text).toMatch(/approver: "elif" started this release and may not approve it/);
  await click(gate, 'spark:go', USERS.bora);
  let status = await waitForStatus(h.client, release, (s) => s.gates.go.decisions.length === 1);
  expect(status.gates.go.state).toBe('open');
  const partial = await slack.waitFor((c) => updatesOf(gate, mark).some((u) => u === c && String(c.args.text).includes('1 of 2 GO so far')));
  expect(() => buttonIn(partial.args.blocks, 'spark:go')).not.toThrow();

  mark = slack.calls.length;
  await click(gate, 'spark:go', USERS.bora);
  expect((await ephemeralTo(USERS.bora, mark)).args.text).toMatch(/approver: "bora" has already decided gate go/);
  await click(gate, 'spark:go', USERS.cem);
  status = await waitForStatus(h.client, release, (s) => s.gates.go.state === 'go');
  expect(status.gates.go.decisions.map((d) => d.by)).toEqual(['bora', 'cem']);

  await h.client.control(release, 'abort', { by: 'elif', reason: 'test over' });
  expect((await h.client.result(release)).verdict).toBe('aborted');
});

test('a click on the message of an earlier run is refused; a dry run runs every check and evaluation and moves no traffic', async () => {
  const first = await h.client.start(uniquePlan(), 'deniz', true);
  const oldGate = refOf(await promptCall(first, 'spark:go', 'go'));
  await waitForStatus(h.client, first.release, (s) => s.gates.go.state === 'open');
  await click(oldGate, 'spark:no-go', USERS.cem);
  expect((await h.client.result(first.release)).verdict).toBe('no-go');
  const oldGo = buttonIn(slack.calls.find((c) => c.method === 'chat.postMessage' && refOf(c).ts === oldGate.ts)!.args.blocks, 'spark:go');

  const plan = uniquePlan();
  const second = await h.client.start(plan, 'deniz', true);
  await openGoWithFullChecklist(h.client, second.release);
  const newGate = refOf(await promptCall(second, 'spark:go', 'go'));
  // The earlier run's GO button, clicked now: that run has ended, nothing moves.
  let mark = slack.calls.length;
  await postInteraction(receiver.url, SECRET, blockActionPayload({ user: USERS.bora, channel: oldGate.channel, ts: oldGate.ts, button: oldGo }));
  expect((await ephemeralTo(USERS.bora, mark)).args.text).toMatch(new RegExp(`run ${first.runId} has ended \\(COMPLETED\\)`));
  // This release's GO bound to the other run (a value no message of this run carries): refused too.
  mark = slack.calls.length;
  const crossed = { ...buttonIn(slack.message(newGate.channel, newGate.ts)!.blocks, 'spark:go') };
  crossed.value = JSON.stringify({ ...JSON.parse(crossed.value), u: first.runId });
  await postInteraction(receiver.url, SECRET, blockActionPayload({ user: USERS.bora, channel: newGate.channel, ts: newGate.ts, button: crossed }));
  expect((await ephemeralTo(USERS.bora, mark)).args.text).toBe(`Not done: no release ${second.release} with run ${first.runId}. Nothing changed.`);
  let status = await h.client.status(second.release);
  expect(status.gates.go).toMatchObject({ state: 'open', decisions: [] });

  // The rehearsal: every planned check ran (or is reported not implemented), the canary was
  // evaluated, and the router was never touched.
  await click(newGate, 'spark:go', USERS.bora);
  status = await waitForStatus(h.client, second.release, (s) => (s.stage?.evaluations ?? 0) >= 2);
  const planned = [...plan.checks.preflight, ...plan.checks.blindSpots, ...plan.checks.blastRadius, ...plan.checks.redTeam, ...plan.checks.greenButton];
  expect(status.checks.map((c) => c.id).sort()).toEqual([...planned].sort());
  expect(status.dryRun).toBe(true);
  expect(status.canaryWeight).toBe(1);
  expect((await h.target.setWeight(0)).previousCanaryPercent).toBe(0);
  const dir = path.join(config.evidenceDir, second.release);
  expect(fs.readFileSync(path.join(dir, 'rollout_stage_1.txt'), 'utf8')).toMatch(/router: local \(dry run: recorded only\)/);

  // `rollback --dry-run` previews with the same rules as the workflow, and sends nothing.
  const recorded = await h.client.plan(second.release);
  expect(() => previewRollback(status, recorded, 'cem', 'not mine to do')).toThrow(/by: "cem" may not roll back/);
  const preview = previewRollback(status, recorded, 'bora', 'rehearsal over');
  expect(preview[0]).toBe(`DRY RUN: nothing was sent to ${second.release}.`);
  expect(preview.join('\n')).toContain('stop stage 1 (1%) and set the canary weight 1% -> 0% through the local router at http://127.0.0.1:18089 (this release is a dry run: the weight is only recorded)');
  expect((await h.client.status(second.release)).verdict).toBe('running');
  await h.client.canaryControl('rollback', { release: second.release, by: 'bora', reason: 'rehearsal over' });
  expect((await h.client.result(second.release)).verdict).toBe('rolled-back');
  expect((await h.target.setWeight(0)).previousCanaryPercent).toBe(0);
  expect(fs.readFileSync(path.join(dir, 'logs_stage_1.txt'), 'utf8').trim().split('\n').length).toBeGreaterThanOrEqual(2);
});

test('a slow gate: the war-room is reminded of who has not decided, the IC is paged, and the timeout closes it as NO-GO', async () => {
  const plan = uniquePlan();
  const started = await h.client.start(plan, 'deniz');
  const { release } = started;
  const gate = refOf(await promptCall(started, 'spark:go', 'go'));
  const result = await h.client.result(release);
  expect(result.verdict).toBe('no-go');

  const said = slack.accepted('chat.postMessage').filter((c) => c.answer.body.channel === gate.channel).map((c) => String(c.args.text));
  const reminders = said.filter((t) => t.startsWith('Reminder:'));
  expect(reminders.length).toBeGreaterThanOrEqual(2);
  expect(reminders[0]).toMatch(/Waiting on <@U0BORA001> \(bora\), <@U0CEM0001> \(cem\), <@U0ELIF001> \(elif\); 0 of 1 GO so far/);
  expect(said.some((t) => /^Escalation: .* has waited .* without a decision .* Paged bora \(delivered\)/.test(t))).toBe(true);
  const escalation = pages.find((p) => p.release === release);
  expect(escalation).toMatchObject({ kind: 'escalation', to: ['bora'], route: 'spark-trading', service: 'spark-trading' });
  // The prompt is replaced: NO-GO, no buttons.
  const final = updatesOf(gate).at(-1)!;
  expect(String(final.args.text)).toMatch(/NO-GO for .*: nobody decided GO\/NO-GO \(10\/10 checklist\) in time/);
  expect(() => buttonIn(final.args.blocks, 'spark:go')).toThrow(/no button/);
  // The evidence keeps what was said and whether it arrived.
  const announcements = fs.readFileSync(path.join(config.evidenceDir, release, 'announcements.txt'), 'utf8');
  expect(announcements).toMatch(/Reminder: .*\n {2}-> delivered \(chat.postMessage/);
  expect(fs.readFileSync(path.join(config.evidenceDir, release, 'pages.txt'), 'utf8')).toMatch(/escalation to bora: .*\n {2}-> delivered \(webhook HTTP 202\) in 1 attempt/);
});
