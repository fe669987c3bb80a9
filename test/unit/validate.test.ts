import fc from 'fast-check';
import type { GateDecisionInput } from '../../src/workflows/messages';
import {
  checkGateDecision,
  claimedSender,
  textProblem,
  MAX_REASON_LENGTH,
  parseControl,
  parseGateDecision,
  RefusedError,
  type GateContext,
} from '../../src/workflows/validate';

const DECISION: GateDecisionInput = {
  release: 'release-spark-trading-v1.4.0',
  runId: 'run-7f3a',
  gate: 'go',
  decision: 'go',
  approver: 'bora',
  reason: 'checklist 10/10, signals green in the dry run',
};

const CONTEXT: GateContext = {
  release: 'release-spark-trading-v1.4.0',
  runId: 'run-7f3a',
  openGate: 'go',
  approvers: ['bora', 'cem', 'elif'],
  initiator: 'deniz',
  allowInitiator: false,
  alreadyDecidedBy: [],
  checklistComplete: true,
};

/** The RefusedError message a call throws; fails the test when it does not refuse. */
function refusal(call: () => unknown): string {
  try {
    call();
  } catch (err) {
    if (err instanceof RefusedError) return err.message;
    throw err;
  }
  throw new Error('expected a refusal, but it was accepted');
}

describe('parseGateDecision', () => {
  it('accepts a well-formed decision, trimming the approver and reason', () => {
    expect(parseGateDecision({ ...DECISION, approver: ' bora ', reason: '  go  ', override: false })).toEqual({
      ...DECISION, reason: 'go', override: false,
    });
    expect(parseGateDecision(DECISION).override).toBeUndefined();
  });

  it.each([
    ['not an object', 'GO', /^decision: must be an object/],
    ['null', null, /^decision: must be an object/],
    ['an array', [DECISION], /^decision: must be an object/],
    ['missing release', { ...DECISION, release: undefined }, /^release: must be a string \(missing\)/],
    ['missing runId', { ...DECISION, runId: undefined }, /^runId: must be a string \(missing\)/],
    ['missing reason', { ...DECISION, reason: undefined }, /^reason: must be a string \(missing\)/],
    ['release of the wrong type', { ...DECISION, release: 140 }, /^release: must be a string$/],
    ['approver of the wrong type', { ...DECISION, approver: ['bora'] }, /^approver: must be a string$/],
    ['override of the wrong type', { ...DECISION, override: 'yes' }, /^override: must be a boolean$/],
    ['an unknown field', { ...DECISION, aprover: 'bora' }, /^aprover: unknown field/],
    ['an unknown gate', { ...DECISION, gate: 'deploy' }, /^gate: unknown gate "deploy" \(known: go\)/],
    ['an unknown decision', { ...DECISION, decision: 'yes' }, /^decision: must be "go" or "no-go", not "yes"/],
    ['an empty approver', { ...DECISION, approver: '  ' }, /^approver: must name a person/],
    ['an empty reason', { ...DECISION, reason: ' \n ' }, /^reason: must say why/],
    ['a reason too long', { ...DECISION, reason: 'x'.repeat(MAX_REASON_LENGTH + 1) }, /^reason: longer than 2000 characters/],
  ])('refuses %s, naming the field', (_name, input, expected) => {
    expect(refusal(() => parseGateDecision(input))).toMatch(expected);
  });

  it('accepts a reason of exactly the maximum length', () => {
    expect(parseGateDecision({ ...DECISION, reason: 'x'.repeat(MAX_REASON_LENGTH) }).reason).toHaveLength(MAX_REASON_LENGTH);
  });
});

describe('parseControl', () => {
  it('accepts who and why', () => {
    expect(parseControl({ by: ' elif ', reason: 'pager fired' })).toEqual({ by: 'elif', reason: 'pager fired' });
  });

  it.each([
    ['not an object', 42, /^control: must be an object/],
    ['missing by', { reason: 'pager fired' }, /^by: must be a string \(missing\)/],
    ['an empty by', { by: '', reason: 'pager fired' }, /^by: must name a person/],
    ['by of the wrong type', { by: 7, reason: 'pager fired' }, /^by: must be a string$/],
    ['an empty reason', { by: 'elif', reason: '' }, /^reason: must say why/],
    ['a reason too long', { by: 'elif', reason: 'x'.repeat(MAX_REASON_LENGTH + 1) }, /^reason: longer than/],
  ])('refuses %s, naming the field', (_name, input, expected) => {
    expect(refusal(() => parseControl(input))).toMatch(expected);
  });
});

describe('checkGateDecision', () => {
  it('accepts an approver deciding the open gate of this release and run', () => {
    expect(() => checkGateDecision(DECISION, CONTEXT)).not.toThrow();
    expect(() => checkGateDecision({ ...DECISION, decision: 'no-go', approver: 'elif' }, CONTEXT)).not.toThrow();
  });

  it.each<[string, Partial<GateDecisionInput>, Partial<GateContext>, RegExp]>([
    ['the wrong release', { release: 'release-spark-trading-v1.3.9' }, {}, /^release: this is release-spark-trading-v1\.4\.0, not release-spark-trading-v1\.3\.9/],
    ['the wrong run', { runId: 'run-old' }, {}, /^runId: the decision is for run run-old, but this release's run is run-7f3a/],
    ['a gate that is not open', {}, { openGate: null }, /^gate: "go" is not open \(no gate is open now\)/],
    ['someone who is not an approver', { approver: 'mallory' }, {}, /^approver: "mallory" may not decide gate go \(approvers: bora, cem, elif\)/],
    ['the initiator', {}, { initiator: 'bora' }, /^approver: "bora" started this release and may not approve it/],
    ['a second decision by the same approver', {}, { alreadyDecidedBy: ['bora'] }, /^approver: "bora" has already decided gate go/],
    ['GO below a full checklist without override', {}, { checklistComplete: false }, /^decision: the GO checklist is not 10\/10; GO needs override: true/],
    ['GO below a full checklist with override: false', { override: false }, { checklistComplete: false }, /^decision: the GO checklist is not 10\/10/],
  ])('refuses %s', (_name, decision, context, expected) => {
    expect(refusal(() => checkGateDecision({ ...DECISION, ...decision }, { ...CONTEXT, ...context }))).toMatch(expected);
  });

  it('lets the initiator approve when the gate allows it', () => {
    expect(() => checkGateDecision(DECISION, { ...CONTEXT, initiator: 'bora', allowInitiator: true })).not.toThrow();
  });

  it('accepts GO below a full checklist with an override, and NO-GO without one', () => {
    const incomplete = { ...CONTEXT, checklistComplete: false };
    expect(() => checkGateDecision({ ...DECISION, override: true, reason: 'item 4 is a known flaky probe; IC accepts' }, incomplete)).not.toThrow();
    expect(() => checkGateDecision({ ...DECISION, decision: 'no-go' }, incomplete)).not.toThrow();
  });
});

describe('hostile strings', () => {
  it.each([
    ['a NUL in the approver', { ...DECISION, approver: 'bo\u0000ra' }, /^approver: holds a NUL character \(U\+0000 at 2\)/],
    ['a lone surrogate in the reason', { ...DECISION, reason: 'fine \ud800' }, /^reason: holds a lone UTF-16 surrogate \(U\+D800 at 5\)/],
    ['an escape sequence in the approver', { ...DECISION, approver: 'bora\u001b[2K' }, /^approver: holds a control character \(U\+001B at 4\)/],
    ['a bidirectional override in the reason', { ...DECISION, reason: 'ok \u202e og' }, /^reason: holds a control character \(U\+202E at 3\)/],
    ['a C1 control in the release', { ...DECISION, release: 'release-\u0085x' }, /^release: holds a control character \(U\+0085/],
    ['a line break in a name', { ...DECISION, runId: 'run\n7f3a' }, /^runId: holds a control character \(U\+000A/],
    ['a name too long', { ...DECISION, approver: 'b'.repeat(201) }, /^approver: longer than 200 characters/],
  ])('refuses %s, naming the field', (_name, input, expected) => {
    expect(refusal(() => parseGateDecision(input))).toMatch(expected);
  });

  it('keeps tabs and line breaks in a reason', () => {
    expect(parseGateDecision({ ...DECISION, reason: 'line one\n\tline two' }).reason).toBe('line one\n\tline two');
  });

  it('quotes an unknown field name or value without its unprintable characters', () => {
    expect(refusal(() => parseGateDecision({ ...DECISION, ['x\u0000y']: 1 }))).toBe('x<U+0000>y: unknown field');
    expect(refusal(() => parseGateDecision({ ...DECISION, gate: 'g\u001bo' }))).toMatch(/^gate: holds a control character/);
    expect(refusal(() => parseGateDecision({ ...DECISION, ['k'.repeat(5000)]: 1 }))).toMatch(/^k{60}\.\.\.: unknown field$/);
  });

  it('records who a refused signal claims to be without what cannot be stored', () => {
    expect(claimedSender({ by: 'bora' })).toBe('bora');
    expect(claimedSender({ by: 'bo\u0000ra\ud800' })).toBe('"bo<U+0000>ra<U+D800>"');
    expect(claimedSender({ by: 7 })).toBe('(unknown)');
    expect(claimedSender(null)).toBe('(unknown)');
  });

  it('whatever a string holds, a parsed decision is storable and printable, or the refusal names a field (fixed seed)', () => {
    const fields = ['release', 'runId', 'approver', 'reason'] as const;
    fc.assert(
      fc.property(fc.constantFrom(...fields), fc.string({ unit: 'binary', maxLength: 300 }), (name, value) => {
        let parsed: GateDecisionInput;
        try {
          parsed = parseGateDecision({ ...DECISION, [name]: value });
        } catch (err) {
          expect(err).toBeInstanceOf(RefusedError);
          expect((err as Error).message.startsWith(`${name}: `)).toBe(true);
          return;
        }
        for (const f of fields) expect(textProblem(parsed[f], MAX_REASON_LENGTH, true)).toBeNull();
        expect(parsed[name]).toBe(value.trim());
      }),
      { seed: 1302, numRuns: 2000 },
    );
  });
});
