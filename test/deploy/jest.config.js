/**
 * The deployment tests (`*.deploy.ts`): slow (minutes each), root, docker and systemd-nspawn. Out of the default
 * jest run (its testMatch is `*.test.ts`); scripts/test.sh runs them after the fast suite when CI=true or
 * ALINK_DEPLOY_TESTS=1, one at a time.
 * @type {import('jest').Config}
 */
module.exports = {
  rootDir: '../..',
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  testMatch: ['<rootDir>/test/deploy/**/*.deploy.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
  testTimeout: 20 * 60 * 1000,
  maxWorkers: 1,
};
