/** A textarea with a line-number gutter: enough to find the line an issue points at. */
import { h } from './dom.js';

/**
 * @param {{ id: string, value: string, readOnly: boolean, label: string }} opts
 * @returns {{ root: HTMLElement, textarea: HTMLTextAreaElement, setValue: (v: string) => void }}
 */
export function codeEditor({ id, value, readOnly, label }) {
  const gutter = h('pre', { class: 'editor-gutter', 'aria-hidden': 'true' });
  const textarea = /** @type {HTMLTextAreaElement} */ (
    h('textarea', { id, class: 'editor-text', spellcheck: 'false', wrap: 'off', autocapitalize: 'off', 'aria-label': label, readonly: readOnly })
  );
  let lines = 0;
  const renumber = () => {
    const n = textarea.value.split('\n').length;
    if (n === lines) return;
    lines = n;
    gutter.textContent = Array.from({ length: n }, (_, i) => i + 1).join('\n');
  };
  textarea.addEventListener('input', renumber);
  textarea.addEventListener('scroll', () => {
    gutter.scrollTop = textarea.scrollTop;
  });
  const setValue = (/** @type {string} */ v) => {
    textarea.value = v;
    renumber();
  };
  setValue(value);
  return { root: h('div', { class: `editor${readOnly ? ' editor-readonly' : ''}` }, gutter, textarea), textarea, setValue };
}
