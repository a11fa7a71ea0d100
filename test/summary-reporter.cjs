// Prints the plain closing line CI reads: "N passed, N failed, N skipped".
// `make test` runs jest twice (the real-node project after the others); with SAFESQUID_TEST_TOTALS
// naming a file, each run adds its counts to it, so the last closing line counts both runs.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- jest loads reporters as CommonJS
const fs = require('node:fs');

class SummaryReporter {
  onRunComplete(_contexts, results) {
    const { numPassedTests, numFailedTests, numPendingTests, numTodoTests } = results;
    const run = { passed: numPassedTests, failed: numFailedTests, skipped: numPendingTests + numTodoTests };
    const totalsFile = process.env.SAFESQUID_TEST_TOTALS;
    let total = run;
    if (totalsFile) {
      const before = fs.existsSync(totalsFile)
        ? JSON.parse(fs.readFileSync(totalsFile, 'utf8'))
        : { passed: 0, failed: 0, skipped: 0 };
      total = {
        passed: before.passed + run.passed,
        failed: before.failed + run.failed,
        skipped: before.skipped + run.skipped,
      };
      fs.writeFileSync(totalsFile, JSON.stringify(total));
    }
    process.stdout.write(`\ntests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped\n`);
  }
}
module.exports = SummaryReporter;
