import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { loadPlanFile } from '../../src/plan/loader';
import { parsePlan } from '../../src/plan/schema';
import { firstNightSchedule, planHour } from '../../src/workflows/rhythm';
import { CHECKS_PER_RUN } from '../../src/workflows/first-night';

const SHIPPED = path.join(__dirname, '../../plans/v1.4.0.yaml');
const MIN = 60_000;
const HOUR = 60 * MIN;
const HOURS = Array.from({ length: 24 }, (_, h) => String(h).padStart(2, '0'));

describe('firstNightSchedule', () => {
  const shipped = loadPlanFile(SHIPPED);
  const schedule = firstNightSchedule(shipped.firstNight.rhythm);

  it('checks 34 times: every 15 min to 2 h, every 30 min to 6 h, hourly to 24 h', () => {
    expect(schedule).toHaveLength(8 + 8 + 18);
    expect(schedule[0]).toBe(15 * MIN);
    expect(schedule.at(-1)).toBe(24 * HOUR);
    expect(schedule.slice(6, 10)).toEqual([105 * MIN, 2 * HOUR, 150 * MIN, 3 * HOUR]);
    expect(schedule.slice(14, 18)).toEqual([330 * MIN, 6 * HOUR, 7 * HOUR, 8 * HOUR]);
    schedule.slice(1).forEach((t, i) => expect(t).toBeGreaterThan(schedule[i]!));
  });

  it('writes an hourly log for every hour 00..23', () => {
    expect([...new Set(schedule.map((t) => planHour(t, 1)))]).toEqual(HOURS);
  });

  it('is the demo plan scaled: one scaled hour in three checks', () => {
    const demo = loadPlanFile(path.join(__dirname, '../../plans/demo.yaml'));
    const demoSchedule = firstNightSchedule(demo.firstNight.rhythm);
    expect(demoSchedule).toEqual([15_000, 30_000, 60_000]);
    expect(demoSchedule.map((t) => planHour(t, demo.timeScale))).toEqual(['00', '00', '00']);
  });

  test('keeps 34 checks and all 24 hourly logs at any time scale (here 1/7)', () => {
    // Each duration is rounded to whole ms on its own, so `every` no longer divides its step.
    const timeScale = 1 / 7;
    const compressed = parsePlan({ ...YAML.parse(fs.readFileSync(SHIPPED, 'utf8')), timeScale });
    const scaled = firstNightSchedule(compressed.firstNight.rhythm);
    expect(scaled).toHaveLength(34);
    expect([...new Set(scaled.map((t) => planHour(t, timeScale)))]).toEqual(HOURS);
  });
});

describe('planHour', () => {
  it.each([
    [15 * MIN, 1, '00'],
    [HOUR, 1, '00'],
    [HOUR + MIN, 1, '01'],
    [6 * HOUR, 1, '05'],
    [24 * HOUR, 1, '23'],
    [0, 1, '00'],
    [30 * HOUR, 1, '23'],
    // timeScale 1/60: one plan hour takes one minute
    [15_000, 1 / 60, '00'],
    [60_000, 1 / 60, '00'],
    [61_000, 1 / 60, '01'],
    [24 * MIN, 1 / 60, '23'],
  ])('offset %d ms at timeScale %d is hour %s', (offset, timeScale, hour) => {
    expect(planHour(offset, timeScale)).toBe(hour);
  });
});

describe('the shipped first night, hour by hour', () => {
  const shipped = loadPlanFile(SHIPPED);
  const schedule = firstNightSchedule(shipped.firstNight.rhythm);
  const perHour = (hours: string[]) => Object.fromEntries(HOURS.map((h) => [h, hours.filter((x) => x === h).length]));

  it('logs 4 checks in each of hours 00-01, 2 in 02-05 and 1 in 06-23', () => {
    const counts = perHour(schedule.map((t) => planHour(t, 1)));
    expect(HOURS.map((h) => counts[h])).toEqual([4, 4, 2, 2, 2, 2, ...Array(18).fill(1)]);
  });

  it(`runs in ${Math.ceil(34 / CHECKS_PER_RUN)} workflow executions of at most ${CHECKS_PER_RUN} checks (continue-as-new)`, () => {
    const runs = Math.ceil(schedule.length / CHECKS_PER_RUN);
    expect(runs).toBe(3);
    // The last execution still has checks to do: no empty run at the end.
    expect(schedule.length - (runs - 1) * CHECKS_PER_RUN).toBeGreaterThan(0);
  });

  it('names the plan hour of a check at the demo time scale the same way as in real time', () => {
    const demo = loadPlanFile(path.join(__dirname, '../../plans/demo.yaml'));
    const full = parsePlan({ ...YAML.parse(fs.readFileSync(SHIPPED, 'utf8')), timeScale: demo.timeScale });
    const scaled = firstNightSchedule(full.firstNight.rhythm);
    expect(scaled.map((t) => planHour(t, demo.timeScale))).toEqual(schedule.map((t) => planHour(t, 1)));
  });
});
