/**
 * The policy: what the master serves now, an editor with validate/save (standalone only),
 * versions with diff and rollback. In Kubernetes mode the operator's ConfigMap is the source
 * of truth, so everything here is read-only.
 */
import { api, ApiError, query } from '../api.js';
import { codeEditor } from '../code-editor.js';
import { emptyState, errorBanner, h, loading, replace } from '../dom.js';
import { confirmDialog } from '../confirm-dialog.js';
import { fmtTime, shortHash } from '../format.js';

export const title = 'Policy';

/**
 * Edits not yet saved, kept while the administrator visits other pages (not across reloads).
 * @type {{ base: string, text: string } | null}
 */
let draft = null;

/** @param {HTMLElement} main @param {import('../app.js').ViewContext} ctx */
export async function render(main, ctx) {
  replace(main, h('div', { class: 'page-head' }, h('h1', null, 'Policy')), loading());
  const policy = await api('/policy');
  if (!ctx.live()) return;

  const editable = Boolean(policy.editable);
  const textOf = (/** @type {any} */ p) =>
    typeof p.text === 'string' ? p.text : JSON.stringify(p.bundle ?? {}, null, 2);
  /** The policy in force, as text: what the editor holds when there are no edits. */
  let baseline = textOf(policy);
  const editor = codeEditor({ id: 'policy-text', value: baseline, readOnly: !editable, label: 'Policy (YAML)' });
  const result = h('div', { id: 'policy-result', 'aria-live': 'polite' });
  const comment = /** @type {HTMLInputElement} */ (
    h('input', { id: 'policy-comment', name: 'comment', maxlength: 200, placeholder: 'What changed and why' })
  );
  const versionsBox = h('div', { id: 'policy-versions' });
  const diffBox = h('section', { class: 'panel', id: 'policy-diff', hidden: true, 'aria-live': 'polite' });
  const hashEl = h('code', { title: policy.hash }, shortHash(policy.hash));

  if (editable) restoreDraft();
  editor.textarea.addEventListener('input', () => {
    draft = editor.textarea.value === baseline ? null : { base: policy.hash, text: editor.textarea.value };
  });
  // Leaving the portal (reload, closing the tab) with unsaved edits asks first.
  const guard = (/** @type {BeforeUnloadEvent} */ e) => {
    if (draft) e.preventDefault();
  };
  window.addEventListener('beforeunload', guard);
  ctx.onLeave(() => window.removeEventListener('beforeunload', guard));

  function restoreDraft() {
    if (!draft || draft.text === baseline) return;
    const saved = draft;
    const discard = h('button', { type: 'button', class: 'btn btn-small', id: 'draft-discard' }, 'Discard them');
    discard.addEventListener('click', () => {
      draft = null;
      editor.setValue(baseline);
      replace(result);
    });
    if (saved.base === policy.hash) {
      editor.setValue(saved.text);
      replace(
        result,
        h(
          'div',
          { class: 'banner banner-info', role: 'status', id: 'draft-notice' },
          h('strong', null, 'Unsaved edits restored. '),
          'They are not in force until saved. ',
          discard,
        ),
      );
      return;
    }
    // The policy changed since the edits began: show the current one, offer the edits back.
    const restore = h('button', { type: 'button', class: 'btn btn-small', id: 'draft-restore' }, 'Restore my edits');
    restore.addEventListener('click', () => {
      editor.setValue(saved.text);
      replace(
        result,
        h(
          'div',
          { class: 'banner banner-info', role: 'status' },
          'Your edits are back; Validate shows how they fare against the current policy.',
        ),
      );
    });
    replace(
      result,
      h(
        'div',
        { class: 'banner banner-info', role: 'status', id: 'draft-notice' },
        h('strong', null, 'The policy changed '),
        `(now ${shortHash(policy.hash)}) since you began editing ${shortHash(saved.base)}. `,
        restore,
        ' ',
        discard,
      ),
    );
  }

  const busy = (/** @type {HTMLButtonElement} */ btn, /** @type {boolean} */ on) =>
    on ? btn.setAttribute('disabled', '') : btn.removeAttribute('disabled');

  const validateBtn = /** @type {HTMLButtonElement} */ (
    h('button', {
      type: 'button',
      class: 'btn',
      id: 'policy-validate',
      async onclick() {
        busy(validateBtn, true);
        replace(result, loading('Validating…'));
        try {
          const res = await api('/policy/validate', { method: 'POST', text: editor.textarea.value });
          editor.markLines([]);
          replace(
            result,
            h(
              'div',
              { class: 'banner banner-ok', role: 'status' },
              h('strong', null, 'Valid. '),
              `Bundle hash ${shortHash(res.hash)}`,
              summaryText(res.summary),
            ),
          );
        } catch (err) {
          replace(result, issuesView(err, editor));
        } finally {
          busy(validateBtn, false);
        }
      },
    })
  );
  validateBtn.textContent = 'Validate';

  const saveBtn = /** @type {HTMLButtonElement} */ (
    h('button', {
      type: 'submit',
      class: 'btn btn-primary',
      id: 'policy-save',
    })
  );
  saveBtn.textContent = 'Save new version';

  const form = h(
    'form',
    {
      class: 'panel',
      'aria-labelledby': 'editor-title',
      async onsubmit(/** @type {SubmitEvent} */ e) {
        e.preventDefault();
        busy(saveBtn, true);
        replace(result, loading('Saving…'));
        try {
          const note = comment.value.trim();
          // In the query rather than a header: headers cannot carry non-Latin-1 text.
          const res = await api(`/policy${note ? `?${query({ comment: note })}` : ''}`, {
            method: 'PUT',
            text: editor.textarea.value,
          });
          draft = null;
          if (!ctx.live()) return;
          baseline = editor.textarea.value;
          editor.markLines([]);
          policy.hash = res.hash;
          hashEl.textContent = shortHash(res.hash);
          hashEl.title = res.hash;
          comment.value = '';
          replace(
            result,
            h(
              'div',
              { class: 'banner banner-ok', role: 'status' },
              h('strong', null, `Saved as version ${res.version}. `),
              `Slaves pick up ${shortHash(res.hash)} within seconds.`,
            ),
          );
          await loadVersions();
        } catch (err) {
          replace(result, issuesView(err, editor));
        } finally {
          busy(saveBtn, false);
        }
      },
    },
    h(
      'div',
      { class: 'panel-head' },
      h('h2', { id: 'editor-title' }, editable ? 'Edit policy' : 'Policy source'),
      h('span', { class: 'muted' }, 'YAML or JSON; PolicySet manifests or bare specs'),
    ),
    editor.root,
    editable
      ? h(
          'div',
          { class: 'form-row' },
          h('label', { for: 'policy-comment', class: 'inline-label' }, 'Comment'),
          comment,
          validateBtn,
          saveBtn,
        )
      : null,
    result,
  );

  async function loadVersions() {
    try {
      const versions = await api('/policy/versions');
      if (!ctx.live()) return;
      replace(
        versionsBox,
        versionsTable(versions, policy, { onDiff: showDiff, onRollback: editable ? rollback : undefined }),
      );
    } catch (err) {
      if (ctx.live()) replace(versionsBox, errorBanner(err));
    }
  }

  /**
   * Version `v` against `against` (0: the empty policy, i.e. the whole text as added).
   * @param {number} v @param {number} against @param {{ version: number }[]} versions
   */
  async function showDiff(v, against, versions) {
    diffBox.hidden = false;
    const select = /** @type {HTMLSelectElement} */ (
      h(
        'select',
        { id: 'diff-against', onchange: () => void showDiff(v, Number(select.value), versions) },
        versions
          .filter((x) => x.version !== v)
          .map((x) => h('option', { value: x.version, selected: x.version === against }, `version ${x.version}`)),
        h('option', { value: 0, selected: against === 0 }, 'empty policy'),
      )
    );
    const head = h(
      'div',
      { class: 'panel-head' },
      h('h2', { id: 'diff-title' }, `Changes in version ${v}`),
      h('label', { class: 'inline-label' }, 'Compared with ', select),
    );
    replace(diffBox, head, loading());
    try {
      const res = await api(`/policy/versions/${v}/diff?against=${against}`);
      if (!ctx.live()) return;
      replace(diffBox, head, diffView(res.diff));
    } catch (err) {
      replace(diffBox, head, errorBanner(err));
    }
    diffBox.scrollIntoView({ block: 'nearest' });
  }

  /** @param {number} v @param {string} hash */
  async function rollback(v, hash) {
    const ok = await confirmDialog(
      `Roll back to version ${v}?`,
      `This saves a new version with the policy of version ${v} (${shortHash(hash)}). Slaves enforce it within seconds.`,
      'Roll back',
    );
    if (!ok) return;
    replace(result, loading('Rolling back…'));
    try {
      const res = await api(`/policy/versions/${v}/rollback`, { method: 'POST' });
      const current = await api('/policy');
      draft = null;
      if (!ctx.live()) return;
      policy.hash = current.hash;
      baseline = textOf(current);
      editor.setValue(baseline);
      hashEl.textContent = shortHash(current.hash);
      hashEl.title = current.hash;
      replace(
        result,
        h(
          'div',
          { class: 'banner banner-ok', role: 'status' },
          h('strong', null, `Rolled back: version ${res.version} `),
          `now serves the policy of version ${v} (${shortHash(res.hash)}).`,
        ),
      );
      await loadVersions();
    } catch (err) {
      replace(result, errorBanner(err));
    }
  }

  replace(
    main,
    h(
      'div',
      { class: 'page-head' },
      h('h1', null, 'Policy'),
      h('p', { class: 'muted' }, 'Serving ', hashEl, ` from ${sourceName(policy.source)}.`),
    ),
    editable
      ? null
      : h(
          'div',
          { class: 'banner banner-info', role: 'note', id: 'policy-readonly' },
          h('strong', null, 'Read-only. '),
          typeof policy.readOnlyReason === 'string' && policy.readOnlyReason
            ? `${policy.readOnlyReason[0].toUpperCase()}${policy.readOnlyReason.slice(1)}.`
            : policy.source === 'configmap'
              ? "This policy is managed by Kubernetes: it comes from the operator's ConfigMap. Change the PolicySet resources instead."
              : `This policy comes from ${sourceName(policy.source)} and cannot be edited here.`,
        ),
    form,
    h('section', { class: 'panel' }, h('h2', null, editable ? 'Versions' : 'History'), versionsBox),
    diffBox,
  );
  replace(versionsBox, loading());
  await loadVersions();
}

/** @param {string | undefined} source */
function sourceName(source) {
  return source === 'configmap'
    ? 'the Kubernetes ConfigMap'
    : source === 'file'
      ? 'a mounted policy file'
      : 'the portal store';
}

/** "5 rules, 4 categories, default action allow" from the compiler's summary. @param {unknown} summary */
function summaryText(summary) {
  if (!summary || typeof summary !== 'object') return typeof summary === 'string' ? ` · ${summary}` : '';
  const s = /** @type {Record<string, unknown>} */ (summary);
  const parts = [];
  for (const [key, noun] of [
    ['rules', 'rule'],
    ['categories', 'category'],
    ['userGroups', 'user group'],
    ['timeProfiles', 'time profile'],
    ['headerRules', 'header rule'],
  ]) {
    const n = s[key];
    if (typeof n === 'number' && n > 0)
      parts.push(`${n} ${n === 1 ? noun : noun === 'category' ? 'categories' : `${noun}s`}`);
  }
  if (Array.isArray(s.policySets))
    parts.unshift(`${s.policySets.length} policy set${s.policySets.length === 1 ? '' : 's'}`);
  if (typeof s.defaultAction === 'string') parts.push(`default action ${s.defaultAction}`);
  return parts.length ? ` · ${parts.join(', ')}` : '';
}

/**
 * The policy engine's issues, each with the set and path it names and, when the server could
 * place it in the text, the line (marked in the gutter, one click away).
 * @param {unknown} err @param {ReturnType<typeof codeEditor>} editor
 */
function issuesView(err, editor) {
  const issues =
    err instanceof ApiError &&
    err.body &&
    typeof err.body === 'object' &&
    Array.isArray(/** @type {any} */ (err.body).issues)
      ? /** @type {any} */ (err.body).issues
      : null;
  if (!issues || !issues.length) return errorBanner(err);
  // The server gives each issue the line (and column) the YAML parser saw its field at.
  const located = issues.map(
    (/** @type {{ policySet?: string, path?: string, message: string, line?: number }} */ i) => ({
      ...i,
      line: typeof i.line === 'number' ? i.line : null,
    }),
  );
  editor.markLines(located.flatMap((i) => (i.line ? [i.line] : [])));
  return h(
    'div',
    { class: 'banner banner-error', role: 'alert', id: 'policy-issues' },
    h(
      'strong',
      null,
      issues.length === 1
        ? 'The policy has 1 problem; nothing was saved.'
        : `The policy has ${issues.length} problems; nothing was saved.`,
    ),
    h(
      'ul',
      { class: 'issues' },
      located.map((i) =>
        h(
          'li',
          null,
          i.line
            ? h(
                'button',
                {
                  type: 'button',
                  class: 'btn btn-small issue-line',
                  'data-line': i.line,
                  onclick: () => editor.goToLine(i.line),
                },
                `line ${i.line}`,
              )
            : null,
          i.path ? h('code', { class: 'issue-path' }, i.path) : null,
          i.policySet ? h('span', { class: 'muted' }, ` in ${i.policySet}`) : null,
          i.path || i.policySet ? ': ' : '',
          i.message,
        ),
      ),
    ),
  );
}

/**
 * @param {{ version: number, hash: string, createdAt: string | number, author?: string, comment?: string }[]} versions
 * @param {{ hash: string }} current
 * @param {{ onDiff: (v: number, against: number, all: typeof versions) => void, onRollback?: (v: number, hash: string) => void }} actions
 *   no `onRollback` when the policy is read-only
 */
function versionsTable(versions, current, actions) {
  if (!versions.length) return emptyState('No saved versions yet: the master serves its initial policy.');
  const sorted = [...versions].sort((a, b) => b.version - a.version);
  const latest = sorted[0].version;
  const onRollback = actions.onRollback;
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'table', id: 'versions-table' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['Version', 'Hash', 'Saved', 'Author', 'Comment', 'Actions'].map((t) => h('th', { scope: 'col' }, t)),
        ),
      ),
      h(
        'tbody',
        null,
        sorted.map((v) => {
          const previous = sorted.find((x) => x.version < v.version);
          return h(
            'tr',
            { 'data-version': v.version },
            h(
              'th',
              { scope: 'row' },
              `v${v.version}`,
              v.version === latest ? h('span', { class: 'badge badge-ok' }, 'current') : null,
            ),
            h('td', null, h('code', { title: v.hash }, shortHash(v.hash))),
            h('td', { class: 'nowrap' }, fmtTime(v.createdAt)),
            h('td', null, v.author ?? '—'),
            h('td', null, v.comment || h('span', { class: 'muted' }, '—')),
            h(
              'td',
              null,
              h(
                'div',
                { class: 'actions' },
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'btn btn-small',
                    'data-action': 'diff',
                    onclick: () => actions.onDiff(v.version, previous?.version ?? 0, sorted),
                  },
                  'Diff',
                ),
                onRollback
                  ? h(
                      'button',
                      {
                        type: 'button',
                        class: 'btn btn-small',
                        'data-action': 'rollback',
                        disabled: v.version === latest || v.hash === current.hash,
                        onclick: () => onRollback(v.version, v.hash),
                      },
                      'Roll back',
                    )
                  : null,
              ),
            ),
          );
        }),
      ),
    ),
  );
}

/** A unified diff with added and removed lines coloured. @param {string} diff */
function diffView(diff) {
  if (!diff.trim()) return emptyState('The two versions are identical.');
  return h(
    'pre',
    { class: 'code diff', id: 'diff-text' },
    diff.split('\n').map((line) => {
      const cls =
        line.startsWith('+++') || line.startsWith('---')
          ? 'diff-file'
          : line.startsWith('@@')
            ? 'diff-hunk'
            : line.startsWith('+')
              ? 'diff-add'
              : line.startsWith('-')
                ? 'diff-del'
                : '';
      return h('span', { class: cls }, `${line}\n`);
    }),
  );
}
