/** Runs one `unifiedDiff` in a worker thread (`diffOffLoop`), so large policies do not hold up the portal. */
import { parentPort, workerData } from 'node:worker_threads';
import { unifiedDiff } from './text-diff.js';

const { before, after, labels } = workerData as {
  before: string;
  after: string;
  labels: { before: string; after: string };
};
parentPort!.postMessage(unifiedDiff(before, after, labels));
