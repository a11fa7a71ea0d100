/** Sign-in form: posts the credentials and lets the portal set its session cookie. */
import { api } from '../api.js';
import { h, replace } from '../dom.js';

/** @param {HTMLElement} main @param {{ onSignedIn: (s: { username: string }) => void }} ctx */
export function render(main, ctx) {
  const error = h('div', { class: 'form-error', role: 'alert', 'aria-live': 'assertive' });
  const user = h('input', { id: 'login-username', name: 'username', autocomplete: 'username', required: true });
  const pass = h('input', {
    id: 'login-password',
    name: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
  });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, 'Sign in');
  const form = h(
    'form',
    {
      class: 'login-card',
      'aria-labelledby': 'login-title',
      async onsubmit(/** @type {SubmitEvent} */ e) {
        e.preventDefault();
        error.textContent = '';
        submit.setAttribute('disabled', '');
        submit.textContent = 'Signing in…';
        try {
          const username = /** @type {HTMLInputElement} */ (user).value.trim();
          const res = await api('/session', {
            method: 'POST',
            json: { username, password: /** @type {HTMLInputElement} */ (pass).value },
          });
          ctx.onSignedIn({ username: res?.username ?? username });
        } catch (err) {
          error.textContent = err instanceof Error ? err.message : String(err);
          /** @type {HTMLInputElement} */ (pass).select();
        } finally {
          submit.removeAttribute('disabled');
          submit.textContent = 'Sign in';
        }
      },
    },
    h('img', { src: 'favicon.svg', alt: '', width: 44, height: 44, class: 'login-logo' }),
    h('h1', { id: 'login-title' }, 'Sign in to the Configuration Portal'),
    h('p', { class: 'muted' }, 'Administrators manage policy, slaves and reports of this SafeSquid cluster here.'),
    h('label', { for: 'login-username' }, 'Username'),
    user,
    h('label', { for: 'login-password' }, 'Password'),
    pass,
    error,
    submit,
  );
  replace(main, h('div', { class: 'login-page' }, form));
  /** @type {HTMLInputElement} */ (user).focus();
}
