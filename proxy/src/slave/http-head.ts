/**
 * A small strict HTTP/1.1 head parser for the fast path: request heads from clients and response
 * heads from upstreams. It accepts only what it fully understands; anything else makes the
 * request parser answer `undefined` so the connection goes to node:http, whose llhttp then gives
 * the usual 400/431 answers.
 */
import { METHODS, type IncomingHttpHeaders } from 'node:http';
import { nameIs } from './header-name.js';
import { ResponseHeadError } from '../errors.js';
export { ResponseHeadError };

/** RFC 9110 tchar, for methods and field names. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
  TCHAR[c.charCodeAt(0)] = 1;

/** Methods node:http's parser knows (it answers 400 to others); CONNECT never takes the fast path. */
const FAST_METHODS = new Set(METHODS.filter((m) => m !== 'CONNECT'));

/** RFC 3986 characters of a request target; anything else is left to node:http to judge. */
const URI_CHAR = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=%")
  URI_CHAR[c.charCodeAt(0)] = 1;

/** Field-value bytes: VCHAR, SP, HTAB and obs-text; no other control characters. */
function validValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 9) || c === 0x7f) return false;
  }
  return true;
}

function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (TCHAR[s.charCodeAt(i)] !== 1) return false;
  return true;
}

/**
 * Most header fields one head may carry, request or response. node:http's parser keeps only the
 * first ~1 000 by default and drops the rest without a word (an `Authorization` among them), so
 * the slave lifts that limit and refuses a head with more fields instead: 431 for a request, 502
 * for a response, never a truncated head.
 */
export const MAX_HEADER_FIELDS = 1000;

/** Index just past the blank line ending a head that starts at `from`, or -1 if it has not all arrived. */
export function headEnd(buf: Buffer, from: number): number {
  const i = buf.indexOf('\r\n\r\n', from, 'latin1');
  return i === -1 ? -1 : i + 4;
}

/**
 * Field lines of a head (after its first line) into `raw` (name, value, ...) and where each line
 * ends into `lineEnds`; false when any line is not strict.
 */
function parseFields(text: string, start: number, raw: string[], lineEnds: number[]): boolean {
  let pos = start;
  // `text` ends with the blank line's CRLF: stop there.
  while (pos < text.length - 2) {
    const eol = text.indexOf('\r\n', pos);
    if (eol === -1) return false;
    const colon = text.indexOf(':', pos);
    if (colon === -1 || colon > eol) return false;
    const name = text.slice(pos, colon);
    // A name with whitespace before the colon, or an obs-fold continuation line, is not strict.
    if (!isToken(name)) return false;
    let vs = colon + 1;
    let ve = eol;
    while (vs < ve && (text.charCodeAt(vs) === 32 || text.charCodeAt(vs) === 9)) vs++;
    while (ve > vs && (text.charCodeAt(ve - 1) === 32 || text.charCodeAt(ve - 1) === 9)) ve--;
    const value = text.slice(vs, ve);
    if (!validValue(value)) return false;
    raw.push(name, value);
    pos = eol + 2;
    lineEnds.push(pos);
  }
  return true;
}

/** A head's text and where its field lines are: what `endToEndLines` forwards as written. */
export interface HeadLines {
  /** The whole head, latin1. */
  readonly text: string;
  /** Where the first field line starts. */
  readonly fieldsStart: number;
  /** Name, value, ... in arrival order and case (latin1). */
  readonly raw: string[];
  /** Where each field's line ends (past its CRLF). */
  readonly lineEnds: number[];
}

/** A parsed request head; `headers` (node:http's `req.headers`) is built only if something reads it. */
export class RequestHead implements HeadLines {
  private built: IncomingHttpHeaders | undefined = undefined;

  constructor(
    readonly method: string,
    readonly target: string,
    readonly text: string,
    readonly fieldsStart: number,
    readonly raw: string[],
    readonly lineEnds: number[],
    /** The client asked to close the connection after this exchange. */
    readonly close: boolean,
  ) {}

  /** The fields as node:http presents `req.headers` (policy matches on these). */
  get headers(): IncomingHttpHeaders {
    return (this.built ??= nodeHeaders(this.raw));
  }
}

/** `value` (a comma-separated list) has the element `token` (lower-case), ignoring case and whitespace. */
function listHas(value: string, token: string): boolean {
  let i = 0;
  while (i < value.length) {
    while (i < value.length && (value.charCodeAt(i) === 32 || value.charCodeAt(i) === 9)) i++;
    let end = value.indexOf(',', i);
    if (end === -1) end = value.length;
    const next = end + 1;
    while (end > i && (value.charCodeAt(end - 1) === 32 || value.charCodeAt(end - 1) === 9)) end--;
    if (end - i === token.length && nameIs(value.slice(i, end), token)) return true;
    i = next;
  }
  return false;
}

/**
 * Parses the request head in `buf[start, end)` (end just past the blank line). Undefined for
 * anything the fast path leaves to node:http: other versions, origin-form or CONNECT targets,
 * request bodies, `Expect`, upgrades, odd syntax.
 */
export function parseRequestHead(buf: Buffer, start: number, end: number): RequestHead | undefined {
  const text = buf.toString('latin1', start, end);
  const eol = text.indexOf('\r\n');
  const sp1 = text.indexOf(' ');
  const sp2 = text.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 === -1 || sp2 > eol) return undefined;
  if (eol - sp2 !== 9 || !text.startsWith(' HTTP/1.1', sp2)) return undefined;
  // The common methods as constants: no string made and hashed per request.
  const method =
    sp1 === 3 && text.startsWith('GET') ? 'GET' : sp1 === 4 && text.startsWith('HEAD') ? 'HEAD' : text.slice(0, sp1);
  if (!FAST_METHODS.has(method)) return undefined;
  const target = text.slice(sp1 + 1, sp2);
  if (!target.startsWith('http://')) return undefined;
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c >= 128 || URI_CHAR[c] !== 1) return undefined;
  }
  const raw: string[] = [];
  const lineEnds: number[] = [];
  if (!parseFields(text, eol + 2, raw, lineEnds)) return undefined;
  if (raw.length > 2 * 256) return undefined;
  let close = false;
  let host = false;
  let lengths = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    if (nameIs(name, 'host')) host = true;
    else if (nameIs(name, 'transfer-encoding') || nameIs(name, 'expect') || nameIs(name, 'upgrade')) return undefined;
    // node:http refuses a repeated Content-Length even when the values agree.
    else if (nameIs(name, 'content-length')) {
      if (value !== '0' || ++lengths > 1) return undefined;
    } else if (nameIs(name, 'connection')) {
      const v = value.toLowerCase();
      if (v.includes('upgrade')) return undefined;
      if (listHas(v, 'close')) close = true;
    }
  }
  // HTTP/1.1 requires Host; node:http answers its absence with 400.
  if (!host) return undefined;
  return new RequestHead(method, target, text, eol + 2, raw, lineEnds, close);
}

/** node:http keeps only the first of these when repeated (see IncomingMessage#_addHeaderLine). */
const FIRST_ONLY = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

/** The `req.headers` object node:http builds from the same fields, so policy sees identical input. */
export function nodeHeaders(raw: readonly string[]): IncomingHttpHeaders {
  const h: Record<string, string | string[]> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    const value = raw[i + 1];
    const prev = h[name];
    if (prev === undefined) {
      h[name] = name === 'set-cookie' ? [value] : value;
    } else if (name === 'set-cookie') {
      (prev as string[]).push(value);
    } else if (FIRST_ONLY.has(name)) {
      continue;
    } else {
      h[name] = `${prev as string}${name === 'cookie' ? '; ' : ', '}${value}`;
    }
  }
  return h;
}

export type BodyFraming = 'none' | 'length' | 'chunked' | 'close';

export interface ResponseHead extends HeadLines {
  status: number;
  statusText: string;
  framing: BodyFraming;
  /** For `length`. */
  length: number;
  /** The upstream connection may carry another request after this response. */
  reusable: boolean;
}

/** `HTTP/1.x NNN reason`: the minor version, status and reason, or undefined when not strict. */
function statusLine(line: string): { minor: number; status: number; reason: string } | undefined {
  if (line.length < 12 || !line.startsWith('HTTP/1.') || line.charCodeAt(8) !== 32) return undefined;
  const minor = line.charCodeAt(7) - 48;
  if (minor !== 0 && minor !== 1) return undefined;
  let status = 0;
  for (let i = 9; i < 12; i++) {
    const d = line.charCodeAt(i) - 48;
    if (d < 0 || d > 9 || (i === 9 && d === 0)) return undefined;
    status = status * 10 + d;
  }
  if (line.length === 12) return { minor, status, reason: '' };
  if (line.charCodeAt(12) !== 32) return undefined;
  return { minor, status, reason: line.slice(13) };
}

function isDigits(s: string, max: number): boolean {
  if (s.length === 0 || s.length > max) return false;
  for (let i = 0; i < s.length; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
  }
  return true;
}

/** `Transfer-Encoding` whose last coding is chunked. */
function endsWithChunked(value: string): boolean {
  let end = value.length;
  while (end > 0 && (value.charCodeAt(end - 1) === 32 || value.charCodeAt(end - 1) === 9)) end--;
  let start = value.lastIndexOf(',', end - 1) + 1;
  while (start < end && (value.charCodeAt(start) === 32 || value.charCodeAt(start) === 9)) start++;
  return end - start === 7 && nameIs(value.slice(start, end), 'chunked');
}

/** Parses an upstream response head in `buf[start, end)`; throws ResponseHeadError on anything malformed. */
export function parseResponseHead(buf: Buffer, start: number, end: number, requestMethod: string): ResponseHead {
  const text = buf.toString('latin1', start, end);
  const eol = text.indexOf('\r\n');
  const line = statusLine(text.slice(0, eol));
  if (!line) throw new ResponseHeadError(`invalid status line "${text.slice(0, Math.min(eol, 100))}"`);
  const status = line.status;
  const statusText = line.reason;
  if (!validValue(statusText)) throw new ResponseHeadError('invalid characters in the status line');
  const raw: string[] = [];
  const lineEnds: number[] = [];
  if (!parseFields(text, eol + 2, raw, lineEnds)) throw new ResponseHeadError('invalid header line');
  if (raw.length > 2 * MAX_HEADER_FIELDS) throw new ResponseHeadError(`more than ${MAX_HEADER_FIELDS} header fields`);
  let reusable = line.minor === 1;
  let chunked = false;
  let te = false;
  let length = -1;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    if (nameIs(name, 'transfer-encoding')) {
      te = true;
      chunked = endsWithChunked(value);
    } else if (nameIs(name, 'content-length')) {
      if (!isDigits(value, 15)) throw new ResponseHeadError(`invalid Content-Length "${value.slice(0, 40)}"`);
      const n = Number(value);
      if (length !== -1 && length !== n) throw new ResponseHeadError('conflicting Content-Length fields');
      length = n;
    } else if (nameIs(name, 'connection')) {
      if (listHas(value, 'close')) reusable = false;
      else if (line.minor === 0 && listHas(value, 'keep-alive')) reusable = true;
    }
  }
  if (te && length !== -1) throw new ResponseHeadError('both Transfer-Encoding and Content-Length');
  let framing: BodyFraming;
  if (requestMethod === 'HEAD' || status === 204 || status === 304 || status < 200) framing = 'none';
  else if (te) framing = chunked ? 'chunked' : 'close';
  else if (length !== -1) framing = length === 0 ? 'none' : 'length';
  else framing = 'close';
  if (framing === 'close') reusable = false;
  return {
    status,
    statusText,
    text,
    fieldsStart: eol + 2,
    raw,
    lineEnds,
    framing,
    length: framing === 'length' ? length : 0,
    reusable,
  };
}
