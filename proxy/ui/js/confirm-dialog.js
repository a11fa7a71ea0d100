/** The one confirmation dialog of the portal, for actions that cannot be undone from the page. */
import { h } from './dom.js';

/**
 * A modal confirmation (native `<dialog>`: focus trapped, Escape cancels).
 * @param {string} question @param {string} detail @param {string} confirmLabel
 * @returns {Promise<boolean>}
 */
export function confirmDialog(question, detail, confirmLabel) {
  return new Promise((resolve) => {
    const dialog = /** @type {HTMLDialogElement} */ (
      h(
        'dialog',
        { class: 'dialog', 'aria-labelledby': 'dialog-title' },
        h(
          'form',
          { method: 'dialog' },
          h('h2', { id: 'dialog-title' }, question),
          h('p', null, detail),
          h(
            'div',
            { class: 'dialog-actions' },
            h('button', { value: 'cancel', class: 'btn', autofocus: true }, 'Cancel'),
            h('button', { value: 'confirm', class: 'btn btn-danger' }, confirmLabel),
          ),
        ),
      )
    );
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'confirm');
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
