// The Slack interaction receiver: button clicks become workflow updates.
// A request passes our signature gate (v0 HMAC, a 5-minute window in both
// directions, no replays), then Bolt's HTTPReceiver. The listener acknowledges
// at once (Slack wants an answer within 3 s), maps the Slack user to a person
// of the release's plan, sends the update through the release client (the
// workflow's validators decide), and replaces the message with the outcome.
// A GO below a full checklist opens a modal for the override's reason; its
// submission decides. A refusal is an ephemeral message and changes nothing.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, HTTPReceiver, LogLevel, type BlockAction, type ButtonAction as BoltButton } from '@slack/bolt';
import { slackNotifierFromEnv, type SlackNotifier } from '../adapters/chat/slack';
import { ReleaseClient } from '../release-client';
import { RefusedError } from '../workflows/validate';
import {
  ACTION_PREFIX, ButtonValueError, decodeButton, decodeOverrideContext, GO_OVERRIDE_CALLBACK, gatePromptOf, OVERRIDE_REASON,
  renderGoOverrideModal, renderPrompt, stageOfTarget, stagePromptOf, type ButtonValue,
} from './blocks';
import { ReplayGuard, SIGNATURE_WINDOW_SECONDS, SignatureError, verifySlackSignature } from './signature';

/** What the receiver does to releases: the release client's verbs, nothing else. */
export type ReleaseControl = Pick<ReleaseClient, 'plan' | 'status' | 'decide' | 'canaryControl'>;

export interface SlackReceiverOptions {
  signingSecret: string;
  releases: ReleaseControl;
  notifier: SlackNotifier;
  port?: number;
  host?: string;
  /** Where Slack posts interactions (the app's Interactivity Request URL path). */
  path?: string;
  log?: (line: string) => void;
  bodyLimitBytes?: number;
}

export interface SlackReceiver {
  url: string;
  close(): Promise<void>;
}

/** How a click reads in the reason the workflow records (a button has no text field). */
const CLICK_REASON: Record<ButtonValue['action'], string> = {
  go: 'GO from a Slack button',
  'no-go': 'NO-GO from a Slack button',
  hold: 'Hold from a Slack button',
  resume: 'Resume from a Slack button',
  rollback: 'Roll back from a Slack button',
};

class BodyTooLarge extends Error {}

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new BodyTooLarge());
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? undefined : v;
}

export async function startSlackReceiver(opts: SlackReceiverOptions): Promise<SlackReceiver> {
  if (!opts.signingSecret) throw new Error('signingSecret: required (SLACK_SIGNING_SECRET)');
  const path = opts.path ?? '/slack/events';
  const log = opts.log ?? ((line: string) => console.log(line));
  const limit = opts.bodyLimitBytes ?? 1024 * 1024;
  const replays = new ReplayGuard(SIGNATURE_WINDOW_SECONDS);
  const { releases, notifier } = opts;

  // Bolt verifies too (belt and braces); our gate in front adds the future-dated and replay refusals.
  const receiver = new HTTPReceiver({ signingSecret: opts.signingSecret, endpoints: path, logLevel: LogLevel.ERROR });
  const app = new App({ receiver, authorize: async () => ({}), logLevel: LogLevel.ERROR });

  const refuse = async (channel: string | undefined, user: string, why: string) => {
    log(`slack: refused a click by ${user}: ${why}`);
    if (channel) await notifier.ephemeral(channel, user, `Not done: ${why}. Nothing changed.`);
  };

  /** One click (or an override's submission) as the person the plan knows: the workflow decides. */
  const act = async (click: ButtonValue, user: string, where: { channel?: string; ts?: string; triggerId?: string }, override?: { reason: string }) => {
    const { channel, ts } = where;
    const plan = await releases.plan(click.release, click.runId);
    const person = plan.people.find((p) => p.slack === user);
    if (!person) {
      await refuse(channel, user, `your Slack account (${user}) is not a person of ${click.release}'s plan`);
      return;
    }
    const stage = stageOfTarget(click.target);
    if (click.action === 'go' || click.action === 'no-go') {
      if (click.target !== 'go') throw new ButtonValueError(`unknown gate "${click.target}"`);
      if (click.action === 'go' && !override) {
        const status = await releases.status(click.release, click.runId);
        if (status.gates.go.state === 'open' && status.gates.go.checklist.some((i) => !i.ok)) {
          // An override is recorded with the person's own reason: ask for it; the submission decides.
          const opened = await notifier.openModal(where.triggerId ?? '', renderGoOverrideModal(gatePromptOf(status, plan, 'go'), { button: click, channel, ts }));
          log(`slack: go by ${person.id} (${user}) on ${click.release}: checklist incomplete, override reason asked (${opened.detail})`);
          if (!opened.delivered) await refuse(channel, user, `the form for the override's reason could not be opened (${opened.detail})`);
          return;
        }
      }
      await releases.decide({
        release: click.release, runId: click.runId, gate: click.target, decision: click.action, approver: person.id,
        reason: override?.reason ?? CLICK_REASON[click.action], ...(override ? { override: true } : {}),
      });
    } else {
      if (stage === null) throw new ButtonValueError(`"${click.target}" is not a canary stage`);
      await releases.canaryControl(click.action, { release: click.release, runId: click.runId, by: person.id, reason: CLICK_REASON[click.action], stage });
    }
    log(`slack: ${click.action}${override ? ' (override)' : ''} by ${person.id} (${user}) on ${click.release} run ${click.runId} ${click.target}: accepted`);
    if (channel && ts) {
      const status = await releases.status(click.release, click.runId);
      const record = stage === null ? null : status.stages[stage - 1];
      const prompt = record ? stagePromptOf(status, plan, record) : gatePromptOf(status, plan, 'go');
      const updated = await notifier.update({ channel, ts }, renderPrompt(prompt));
      if (!updated.delivered) log(`slack: message ${channel} ${ts} not updated: ${updated.detail}`);
    }
  };
  const refusalOf = async (err: unknown, channel: string | undefined, user: string) => {
    const known = err instanceof RefusedError || err instanceof ButtonValueError || (err as Error).name === 'ReleaseCommandError';
    await refuse(channel, user, known ? (err as Error).message.replace(/^refused: /, '') : `the release could not be reached (${(err as Error).message})`);
  };

  app.action<BlockAction<BoltButton>>({ action_id: new RegExp(`^${ACTION_PREFIX}`) }, async ({ ack, body, action }) => {
    await ack(); // first: the HTTP answer goes out now, the update follows
    const user = body.user.id;
    const channel = body.channel?.id ?? body.container?.channel_id;
    const ts = body.message?.ts ?? body.container?.message_ts;
    try {
      // The trigger opens the override's modal, if one is needed (Slack allows 3 s to use it).
      await act(decodeButton(action.value), user, { channel, ts, triggerId: body.trigger_id });
    } catch (err) {
      await refusalOf(err, channel, user);
    }
  });

  app.view(GO_OVERRIDE_CALLBACK, async ({ ack, body, view }) => {
    const user = body.user.id;
    const reason = view.state.values[OVERRIDE_REASON.block]?.[OVERRIDE_REASON.action]?.value?.trim() ?? '';
    const invalid = (message: string) => ack({ response_action: 'errors', errors: { [OVERRIDE_REASON.block]: message } });
    if (reason.length < OVERRIDE_REASON.minLength) {
      await invalid(`Say why GO is right with this checklist (at least ${OVERRIDE_REASON.minLength} characters).`);
      return;
    }
    let context;
    try {
      context = decodeOverrideContext(view.private_metadata);
    } catch (err) {
      await invalid((err as Error).message);
      return;
    }
    await ack(); // closes the modal; the decision's outcome replaces the message or comes as an ephemeral refusal
    try {
      await act(context.button, user, context, { reason });
    } catch (err) {
      await refusalOf(err, context.channel, user);
    }
  });

  const server = http.createServer((req, res) => {
    if (req.method !== 'POST' || new URL(req.url ?? '/', 'http://receiver').pathname !== path) {
      res.writeHead(404).end();
      return;
    }
    readBody(req, limit)
      .then((raw) => {
        const body = raw.toString('utf8');
        try {
          const ts = verifySlackSignature(opts.signingSecret, { timestamp: header(req, 'x-slack-request-timestamp'), signature: header(req, 'x-slack-signature'), body }, Date.now());
          replays.accept(header(req, 'x-slack-signature')!, ts, Date.now());
        } catch (err) {
          if (!(err instanceof SignatureError)) throw err;
          log(`slack: request refused (${err.reason}): ${err.message}`);
          res.writeHead(401, { 'content-type': 'text/plain' }).end(`refused: ${err.reason}\n`);
          return;
        }
        // Bolt reads the body we already buffered.
        (req as http.IncomingMessage & { rawBody?: Buffer }).rawBody = raw;
        receiver.requestListener(req, res);
      })
      .catch((err) => {
        if (err instanceof BodyTooLarge) res.writeHead(413).end();
        else {
          log(`slack: request failed: ${(err as Error).message}`);
          if (!res.headersSent) res.writeHead(500).end();
        }
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}${path}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

if (require.main === module) {
  const secret = process.env.SLACK_SIGNING_SECRET ?? '';
  const notifier = slackNotifierFromEnv();
  if (!secret || !notifier) {
    console.error('slack receiver: set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN (and SLACK_API_URL for a Web API other than Slack\'s)');
    process.exit(2);
  }
  ReleaseClient.connect()
    .then(async (releases) => {
      const port = Number(process.env.SPARK_SLACK_PORT ?? '3000');
      const r = await startSlackReceiver({ signingSecret: secret, releases, notifier, port, host: process.env.SPARK_SLACK_HOST ?? '127.0.0.1' });
      console.log(`slack receiver listening on ${r.url}`);
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void r.close().then(() => releases.close()));
    })
    .catch((err) => {
      console.error(`slack receiver failed: ${(err as Error).message}`);
      process.exit(1);
    });
}
