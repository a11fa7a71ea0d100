/**
 * Policy diffs for the portal's routes. Small texts are diffed at once; large ones (the upload
 * limit allows 4 MiB) in a worker thread, because even a bounded diff of such texts takes the
 * event loop for a second on a loaded machine (bench/portal-diff), and `/healthz`, the slaves'
 * long-polls and the UI wait meanwhile. At most two such workers run at once; others queue.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { unifiedDiff } from './text-diff.js';

/** Below this (both texts together) a diff takes a few ms: a worker would cost more than it saves. */
const OFF_LOOP_BYTES = 256 * 1024;
const MAX_WORKERS = 2;

const workerUrl = new URL('./text-diff-worker.js', import.meta.url);
let running = 0;
const waiting: (() => void)[] = [];

export async function diffOffLoop(
  before: string,
  after: string,
  labels: { before: string; after: string },
): Promise<string> {
  // From TypeScript sources (the unit tests) there is no compiled worker to start.
  if (before.length + after.length < OFF_LOOP_BYTES || !existsSync(fileURLToPath(workerUrl)))
    return unifiedDiff(before, after, labels);
  if (running >= MAX_WORKERS) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await new Promise<string>((resolve, reject) => {
      const worker = new Worker(workerUrl, { workerData: { before, after, labels } });
      worker.once('message', (diff: string) => resolve(diff));
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the diff worker exited with code ${code}`)));
    });
  } finally {
    running--;
    waiting.shift()?.();
  }
}
