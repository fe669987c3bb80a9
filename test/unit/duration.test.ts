import { formatDuration, parseDuration, promDuration } from '../../src/plan/duration';

describe('parseDuration', () => {
  it.each([
    ['15m', 900_000],
    ['30s', 30_000],
    ['500ms', 500],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['1h30m', 5_400_000],
    ['1m30s', 90_000],
    ['1.5s', 1_500],
    ['-30m', -1_800_000],
    ['0', 0],
    ['0m', 0],
    [' 15m ', 900_000],
  ])('reads %j as %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['15 minutes', '15', 'm', '', '15M', '1h-30m', '--5m', '5m ago', '1e3s'])('refuses %j, quoting it', (text) => {
    expect(() => parseDuration(text)).toThrow(`"${text}" is not a duration`);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [500, '500ms'],
    [1_500, '1.5s'],
    [30_000, '30s'],
    [900_000, '15m'],
    [5_400_000, '1h30m'],
    [90_061_000, '25h1m1s'],
    [-1_800_000, '-30m'],
  ])('renders %d ms as %j', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('renders whole seconds and up so that parseDuration reads them back', () => {
    for (const ms of [1_000, 59_000, 61_000, 3_600_000, 5_430_000, -600_000]) expect(parseDuration(formatDuration(ms))).toBe(ms);
  });
});

describe('promDuration', () => {
  it('writes whole seconds, at least 1s', () => {
    expect(promDuration(60_000)).toBe('60s');
    expect(promDuration(1_499)).toBe('1s');
    expect(promDuration(1_500)).toBe('2s');
    expect(promDuration(200)).toBe('1s');
    expect(promDuration(0)).toBe('1s');
  });
});
