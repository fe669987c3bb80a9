// Slack's v0 request signature: the documented test vector, and every way a
// request can be refused (malformed, forged, stale, future-dated, replayed).
import { ReplayGuard, SignatureError, signSlackRequest, verifySlackSignature } from '../../src/slack/signature';

// The example of https://docs.slack.dev/authentication/verifying-requests-from-slack
// (a slash command body signed with Slack's placeholder secret).
const VECTOR = {
  secret: '8f742231b10e8888abcd99yyyzzz85a5',
  timestamp: '1531420618',
  body:
    'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar' +
    '&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com' +
    '%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c',
  signature: 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
};
const VECTOR_NOW_MS = Number(VECTOR.timestamp) * 1000;

function reasonOf(call: () => unknown): string {
  try {
    call();
  } catch (err) {
    if (err instanceof SignatureError) return err.reason;
    throw err;
  }
  throw new Error('expected a refusal, but the request verified');
}

const vectorRequest = { timestamp: VECTOR.timestamp, signature: VECTOR.signature, body: VECTOR.body };

describe("Slack's documented vector", () => {
  it('signs to the documented signature', () => {
    expect(signSlackRequest(VECTOR.secret, VECTOR.timestamp, VECTOR.body)).toBe(VECTOR.signature);
  });

  it('verifies at the time it was sent and returns its timestamp', () => {
    expect(verifySlackSignature(VECTOR.secret, vectorRequest, VECTOR_NOW_MS)).toBe(1531420618);
  });
});

describe('refused requests', () => {
  it('a forged signature (another secret), a changed body or a changed timestamp is a mismatch', () => {
    const forged = signSlackRequest('not-the-secret', VECTOR.timestamp, VECTOR.body);
    expect(reasonOf(() => verifySlackSignature(VECTOR.secret, { ...vectorRequest, signature: forged }, VECTOR_NOW_MS))).toBe('mismatch');
    const tampered = VECTOR.body.replace('user_id=U2CERLKJA', 'user_id=U0BORA001');
    expect(reasonOf(() => verifySlackSignature(VECTOR.secret, { ...vectorRequest, body: tampered }, VECTOR_NOW_MS))).toBe('mismatch');
    expect(reasonOf(() => verifySlackSignature(VECTOR.secret, { ...vectorRequest, timestamp: '1531420619' }, VECTOR_NOW_MS))).toBe('mismatch');
  });

  it('a timestamp more than 5 minutes old is stale, up to 5 minutes is accepted', () => {
    expect(verifySlackSignature(VECTOR.secret, vectorRequest, VECTOR_NOW_MS + 300_000)).toBe(1531420618);
    expect(reasonOf(() => verifySlackSignature(VECTOR.secret, vectorRequest, VECTOR_NOW_MS + 301_000))).toBe('stale');
  });

  it('a timestamp more than 5 minutes in the future is refused too (Bolt alone would accept it)', () => {
    expect(verifySlackSignature(VECTOR.secret, vectorRequest, VECTOR_NOW_MS - 300_000)).toBe(1531420618);
    expect(reasonOf(() => verifySlackSignature(VECTOR.secret, vectorRequest, VECTOR_NOW_MS - 301_000))).toBe('future-dated');
  });

  it.each([
    ['no timestamp', { timestamp: undefined }],
    ['a timestamp that is not a number', { timestamp: '15314206l8' }],
    ['no signature', { signature: undefined }],
    ['an unknown signature version', { signature: VECTOR.signature.replace('v0=', 'v1=') }],
    ['a truncated signature', { signature: VECTOR.signature.slice(0, 40) }],
  ])('%s is malformed', (_name, change) => {
    expect(reasonOf(() => verifySlackSignature(VECTOR.secret, { ...vectorRequest, ...change }, VECTOR_NOW_MS))).toBe('malformed');
  });

  it('an empty signing secret is a configuration error, not a verified request', () => {
    expect(() => verifySlackSignature('', vectorRequest, VECTOR_NOW_MS)).toThrow(/signingSecret/);
  });
});

describe('ReplayGuard', () => {
  it('accepts a signature once and refuses it again while it could still verify', () => {
    const guard = new ReplayGuard(300);
    guard.accept(VECTOR.signature, 1531420618, VECTOR_NOW_MS);
    expect(reasonOf(() => guard.accept(VECTOR.signature, 1531420618, VECTOR_NOW_MS + 1000))).toBe('replayed');
    expect(reasonOf(() => guard.accept(VECTOR.signature, 1531420618, VECTOR_NOW_MS + 300_000))).toBe('replayed');
    // Another request (another signature) is unaffected.
    guard.accept(signSlackRequest(VECTOR.secret, 1531420619, VECTOR.body), 1531420619, VECTOR_NOW_MS + 1000);
  });

  it('forgets a signature once its timestamp has left the window (it would be refused as stale anyway)', () => {
    const guard = new ReplayGuard(300);
    guard.accept(VECTOR.signature, 1531420618, VECTOR_NOW_MS);
    expect(() => guard.accept(VECTOR.signature, 1531420618, VECTOR_NOW_MS + 301_000)).not.toThrow();
  });
});
