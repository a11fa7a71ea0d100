/**
 * Tiny DOM builder. Text always goes in as text nodes, never as HTML, so values that come
 * from the API (host names, URLs, user names) cannot inject markup.
 */

/**
 * @param {string} tag
 * @param {Record<string, unknown> | null} [attrs] `on*` keys add listeners; `class`, `for` and
 *   other keys become attributes; `false`/`null`/`undefined` values are skipped.
 * @param {...(Node | string | number | null | undefined | false | Array<Node | string>)} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * Same as {@link h} for SVG elements.
 * @param {string} tag
 * @param {Record<string, unknown> | null} [attrs]
 * @param {...(Node | string | number | null | undefined | false | Array<Node | string>)} children
 * @returns {SVGElement}
 */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** @param {Element} el @param {Record<string, unknown> | null | undefined} attrs */
function setAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), /** @type {EventListener} */ (value));
    } else if (key === 'value' && 'value' in el) {
      /** @type {HTMLInputElement} */ (el).value = String(value);
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
}

/** @param {Element} el @param {unknown[]} children */
function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces every child of `el`. @param {Element} el @param {...unknown} children */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** An accessible error banner carrying the API's own sentence. @param {unknown} err */
export function errorBanner(err) {
  const message = err instanceof Error ? err.message : String(err);
  return h('div', { class: 'banner banner-error', role: 'alert' }, h('strong', null, 'Error: '), message);
}

/** @param {string} text */
export function loading(text = 'Loading…') {
  return h(
    'p',
    { class: 'loading', role: 'status', 'aria-live': 'polite' },
    h('span', { class: 'spinner', 'aria-hidden': 'true' }),
    text,
  );
}

/** @param {string} text */
export function emptyState(text) {
  return h('p', { class: 'empty' }, text);
}
