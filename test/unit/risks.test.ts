import { parseRisksInput } from '../../src/workflows/risks';

const risk = { description: 'Outbox p99 above 10 s', owner: 'deniz', due: '2026-12-12', mitigation: 'Cap publisher backoff at 5 s' };
const input = (over: Record<string, unknown> = {}, risks: unknown = [risk]) => ({ release: 'release-x', runId: 'run-1', by: 'bora', reason: 'IC review', risks, ...over });

describe('parseRisksInput', () => {
  it('accepts 1 to 3 risks, trimming text and defaulting the status to open', () => {
    const parsed = parseRisksInput(input({ by: ' bora ' }, [{ ...risk, description: '  Outbox p99 above 10 s ' }, { ...risk, status: 'accepted' }]));
    expect(parsed.by).toBe('bora');
    expect(parsed.risks).toEqual([{ ...risk, status: 'open' }, { ...risk, status: 'accepted' }]);
  });

  it.each([
    ['not an object', 'risks', /^risks update: must be an object/],
    ['an unknown field', input({ force: true }), /^force: unknown field/],
    ['no reason', input({ reason: '  ' }), /^reason: must say why/],
    ['no person', input({ by: undefined }), /^by: must be a string \(missing\)/],
    ['no risks', input({}, []), /^risks: must list 1 to 3 risks/],
    ['four risks', input({}, [risk, risk, risk, risk]), /^risks: must list 1 to 3 risks/],
    ['a due date that is not a date', input({}, [risk, { ...risk, due: 'next week' }]), /^risks\[1\]\.due: a date such as 2026-12-01/],
    ['a risk without an owner', input({}, [{ ...risk, owner: '' }]), /^risks\[0\]\.owner: /],
    ['an unknown status', input({}, [{ ...risk, status: 'done' }]), /^risks\[0\]\.status: /],
    ['an extra risk field', input({}, [{ ...risk, severity: 'high' }]), /^risks\[0\]: /],
  ])('refuses %s, naming the field', (_name, raw, expected) => {
    expect(() => parseRisksInput(raw)).toThrow(expected);
  });
});
