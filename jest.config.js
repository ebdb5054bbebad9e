/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  // Type-checking is tsc's job in .ci/run; ts-jest only transpiles so the suite stays fast on 2 cores.
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
  testTimeout: 30000,
  maxWorkers: 2,
};
