/** Two projects: unit tests need nothing running; the rest talk to real services
 * started by `bash scripts/services.sh up` (npm test does that). */
const base = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { isolatedModules: true }] },
};
module.exports = {
  // Per-project testTimeout is ignored by jest 29; integration tests wait on real services.
  testTimeout: 180000,
  projects: [
    // Replays need no services: they run with the unit tests, so a workflow change that breaks one fails early.
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/test/{unit,replay}/**/*.test.ts'] },
    { ...base, displayName: 'integration', testMatch: ['<rootDir>/test/{integration,workflow,e2e,chaos}/**/*.test.ts'] },
  ],
};
