/**
 * Unified line diff for policy versions: `diff -u` style output with `context` unchanged lines
 * around each change. Its cost is bounded, since it runs on the portal's event loop and the upload
 * limit allows 4 MiB policies (version 1 is diffed against an empty version 0): common leading and
 * trailing lines are taken off in one pass, a side that is then empty needs no search, and the rest
 * goes to jsdiff's Myers search with an edit-length and time bound. A search that runs out of its
 * bound shows the changed middle as removed then added: a correct diff, only not the smallest.
 */
import { diffArrays } from 'diff';

/** The diff as parallel arrays (no object per line: a 4 MiB policy has 130 000 lines). */
interface Ops {
  kinds: string[];
  lines: string[];
}

/**
 * Bounds of the Myers search on the lines between the common head and tail. Its work grows with
 * edit length times lines, so the edit length allowed shrinks as the texts grow: 2 000 for texts
 * of up to 1 000 lines, 100 for the largest policy (260 000 lines both sides: ~180 ms measured).
 */
const SEARCH_WORK = 2_000_000;
const MAX_EDIT_LENGTH = 2000;
const MIN_EDIT_LENGTH = 100;
const SEARCH_TIMEOUT_MS = 100;

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function lineOps(a: string[], b: string[]): Ops {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const kinds: string[] = [];
  const lines: string[] = [];
  const push = (kind: string, line: string): void => {
    kinds.push(kind);
    lines.push(line);
  };
  for (let i = 0; i < head; i++) push(' ', a[i]);
  const aMid = a.slice(head, a.length - tail);
  const bMid = b.slice(head, b.length - tail);
  const maxEditLength = Math.max(
    MIN_EDIT_LENGTH,
    Math.min(MAX_EDIT_LENGTH, Math.floor(SEARCH_WORK / (aMid.length + bMid.length + 1))),
  );
  const changes =
    aMid.length && bMid.length ? diffArrays(aMid, bMid, { maxEditLength, timeout: SEARCH_TIMEOUT_MS }) : undefined;
  if (changes) {
    for (const c of changes) for (const line of c.value) push(c.added ? '+' : c.removed ? '-' : ' ', line);
  } else {
    for (const line of aMid) push('-', line);
    for (const line of bMid) push('+', line);
  }
  for (let i = a.length - tail; i < a.length; i++) push(' ', a[i]);
  return { kinds, lines };
}

export function unifiedDiff(
  before: string,
  after: string,
  labels: { before: string; after: string },
  context = 3,
): string {
  const { kinds, lines } = lineOps(splitLines(before), splitLines(after));
  const n = kinds.length;
  if (!kinds.some((k) => k !== ' ')) return '';
  let out = `--- ${labels.before}\n+++ ${labels.after}\n`;
  // Line numbers at position `pos` in both texts, advanced as hunks are emitted (one pass).
  let pos = 0;
  let aLine = 1;
  let bLine = 1;
  const advanceTo = (to: number): void => {
    for (; pos < to; pos++) {
      if (kinds[pos] !== '+') aLine++;
      if (kinds[pos] !== '-') bLine++;
    }
  };
  let i = 0;
  while (i < n) {
    if (kinds[i] === ' ') {
      i++;
      continue;
    }
    // A hunk: from `context` lines before this change to `context` lines after the last change
    // that is within 2*context lines of the previous one.
    const start = Math.max(pos, i - context);
    let end = i;
    while (end < n) {
      if (kinds[end] !== ' ') {
        end++;
        continue;
      }
      let run = 0;
      while (end + run < n && kinds[end + run] === ' ') run++;
      if (end + run >= n || run > 2 * context) {
        end = Math.min(n, end + context);
        break;
      }
      end += run;
    }
    advanceTo(start);
    let aCount = 0;
    let bCount = 0;
    for (let j = start; j < end; j++) {
      if (kinds[j] !== '+') aCount++;
      if (kinds[j] !== '-') bCount++;
    }
    out += `@@ -${aCount === 0 ? aLine - 1 : aLine},${aCount} +${bCount === 0 ? bLine - 1 : bLine},${bCount} @@\n`;
    for (let j = start; j < end; j++) out += kinds[j] + lines[j] + '\n';
    advanceTo(end);
    i = end;
  }
  return out;
}
