/** A textarea with a line-number gutter that can mark lines with issues and jump to them. */
import { h } from './dom.js';

/**
 * @param {{ id: string, value: string, readOnly: boolean, label: string }} opts
 * @returns {{ root: HTMLElement, textarea: HTMLTextAreaElement, setValue: (v: string) => void,
 *   markLines: (lines: number[]) => void, goToLine: (n: number) => void }}
 */
export function codeEditor({ id, value, readOnly, label }) {
  const gutter = h('pre', { class: 'editor-gutter', 'aria-hidden': 'true' });
  const textarea = /** @type {HTMLTextAreaElement} */ (
    h('textarea', {
      id,
      class: 'editor-text',
      spellcheck: 'false',
      wrap: 'off',
      autocapitalize: 'off',
      'aria-label': label,
      readonly: readOnly,
    })
  );
  let lines = 0;
  /** @type {Set<number>} */
  let marked = new Set();
  const draw = () => {
    gutter.replaceChildren(
      ...Array.from({ length: lines }, (_, i) =>
        h('span', { class: marked.has(i + 1) ? 'gutter-line gutter-issue' : 'gutter-line' }, String(i + 1)),
      ),
    );
    gutter.scrollTop = textarea.scrollTop;
  };
  const renumber = () => {
    const n = textarea.value.split('\n').length;
    if (n === lines) return;
    lines = n;
    draw();
  };
  textarea.addEventListener('input', () => {
    // Marks point at lines of the text as it was validated: stale once it changes.
    if (marked.size) {
      marked = new Set();
      lines = -1;
    }
    renumber();
  });
  textarea.addEventListener('scroll', () => {
    gutter.scrollTop = textarea.scrollTop;
  });
  const setValue = (/** @type {string} */ v) => {
    textarea.value = v;
    marked = new Set();
    lines = -1;
    renumber();
  };
  setValue(value);
  return {
    root: h('div', { class: `editor${readOnly ? ' editor-readonly' : ''}` }, gutter, textarea),
    textarea,
    setValue,
    markLines(list) {
      marked = new Set(list);
      draw();
    },
    goToLine(n) {
      const all = textarea.value.split('\n');
      const start = all.slice(0, n - 1).reduce((a, l) => a + l.length + 1, 0);
      textarea.focus();
      textarea.setSelectionRange(start, start + (all[n - 1]?.length ?? 0));
      const lineHeight = parseFloat(getComputedStyle(textarea).lineHeight) || 20;
      textarea.scrollTop = Math.max(0, (n - 4) * lineHeight);
    },
  };
}
