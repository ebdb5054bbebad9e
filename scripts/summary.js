// Prints jest's result counts as the one plain line CI reads; a missing or empty result file is a failure.
const fs = require('node:fs');
const file = process.argv[2] || '.ci/jest-results.json';
let r;
try {
  r = JSON.parse(fs.readFileSync(file, 'utf8'));
} catch (err) {
  console.error(`no jest results in ${file}: ${err.message}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
// A suite that fails to load has no test results of its own: count it as a failure, or CI would miss it.
const brokenSuites = (r.testResults || []).filter((s) => s.status === 'failed' && (s.assertionResults || []).length === 0).length;
const failed = r.numFailedTests + brokenSuites;
const skipped = r.numPendingTests + r.numTodoTests;
let line = `${r.numPassedTests} passed, ${failed} failed`;
if (skipped > 0) line += `, ${skipped} skipped`;
console.log(line);
process.exit(failed > 0 || r.numTotalTests === 0 ? 1 : 0);
