import { unifiedDiff } from './text-diff.js';

describe('unifiedDiff', () => {
  const labels = { before: 'version 1', after: 'version 2' };

  it('is empty for equal texts', () => {
    expect(unifiedDiff('a\nb\n', 'a\nb\n', labels)).toBe('');
  });

  it('shows a changed line with its context', () => {
    const before = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].join('\n');
    const after = ['a', 'b', 'c', 'd', 'E', 'f', 'g', 'h'].join('\n');
    expect(unifiedDiff(before, after, labels)).toBe(
      ['--- version 1', '+++ version 2', '@@ -2,7 +2,7 @@', ' b', ' c', ' d', '-e', '+E', ' f', ' g', ' h', ''].join('\n'),
    );
  });

  it('splits distant changes into separate hunks and handles pure additions', () => {
    const before = Array.from({ length: 20 }, (_, i) => `l${i}`).join('\n');
    const lines = before.split('\n');
    lines.splice(1, 0, 'new-top');
    lines[18] = 'changed';
    const diff = unifiedDiff(before, lines.join('\n'), labels);
    expect(diff.match(/^@@/gm)).toHaveLength(2);
    expect(diff).toContain('@@ -1,4 +1,5 @@\n l0\n+new-top\n l1\n l2\n l3\n');
    expect(diff).toContain('-l17\n+changed\n');
  });

  it('diffs from and to an empty text', () => {
    expect(unifiedDiff('', 'x\ny\n', labels)).toBe('--- version 1\n+++ version 2\n@@ -0,0 +1,2 @@\n+x\n+y\n');
    expect(unifiedDiff('x\n', '', labels)).toBe('--- version 1\n+++ version 2\n@@ -1,1 +0,0 @@\n-x\n');
  });
});
