// Prints jest's result counts as the one plain line CI reads, summed over every result file given (the fast suite's
// and the deployment suite's); a missing or empty result file is a failure.
const fs = require('node:fs');
const files = process.argv.slice(2);
if (files.length === 0) files.push('.ci/jest-results.json');
let passed = 0;
let failed = 0;
let skipped = 0;
let total = 0;
for (const file of files) {
  let r;
  try {
    r = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    console.error(`no jest results in ${file}: ${err.message}`);
    failed += 1;
    continue;
  }
  // A suite that fails to load has no test results of its own: count it as a failure, or CI would miss it.
  const brokenSuites = (r.testResults || []).filter((s) => s.status === 'failed' && (s.assertionResults || []).length === 0).length;
  passed += r.numPassedTests;
  failed += r.numFailedTests + brokenSuites;
  skipped += r.numPendingTests + r.numTodoTests;
  total += r.numTotalTests;
  if (r.numTotalTests === 0) {
    console.error(`${file}: no tests ran`);
    failed += 1;
  }
  if (files.length > 1) console.log(`${file}: ${r.numPassedTests} passed, ${r.numFailedTests + brokenSuites} failed`);
}
let line = `${passed} passed, ${failed} failed`;
if (skipped > 0) line += `, ${skipped} skipped`;
console.log(line);
process.exit(failed > 0 || total === 0 ? 1 : 0);
