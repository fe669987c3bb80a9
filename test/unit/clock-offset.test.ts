// How a clock offset, known to ± half its round trip, is judged against a limit
// (src/activities/checks/clock.ts): the time checks and the identity seal use it.
import { judgeOffset } from '../../src/activities/checks/clock';

test.each([
  // offset, round trip, limit, verdict
  [5000, 2, 100, 'beyond'], // the broken target's NTP server
  [3, 1, 100, 'within'],
  [134, 270, 100, 'unsure'], // one exchange read late by a busy event loop: cannot tell 100 ms
  [-400, 320, 100, 'beyond'], // past the limit even with the whole round trip in its favour
  [120, 20, 100, 'beyond'],
  [90, 60, 100, 'within'],
])('offset %d ms, round trip %d ms, limit %d ms: %s', (offsetMs, rttMs, limit, verdict) => {
  expect(judgeOffset({ offsetMs, rttMs }, limit)).toBe(verdict);
});
