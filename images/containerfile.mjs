#!/usr/bin/env node
/**
 * Reads a FROM-scratch Containerfile into the steps and settings `images/oci.sh` applies with umoci,
 * so that `make images` and `docker|podman build` build the same image from one file.
 *
 *   node images/containerfile.mjs FILE [--build-arg NAME=VALUE]...
 *
 * prints JSON: { copies: [{ src, dest, chown? }], config: { user, workdir, env, entrypoint, cmd,
 * labels, stopsignal } }. Only the instructions such an image needs are accepted; anything else
 * (RUN needs a shell the image does not have) is an error naming the line.
 */
import { readFileSync } from 'node:fs';

class ContainerfileError extends Error {}

/** Instruction lines with their first line number; `\` continues a line, `#` starts a comment line. */
function logicalLines(text) {
  const out = [];
  let current;
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (current === undefined && /^\s*(#|$)/.test(line)) return;
    if (current !== undefined && /^\s*#/.test(line)) return; // comments inside a continuation
    const continued = /\\\s*$/.test(line);
    const body = continued ? line.replace(/\\\s*$/, '') : line;
    current =
      current === undefined ? { no: i + 1, text: body } : { ...current, text: `${current.text} ${body.trim()}` };
    if (!continued) {
      out.push(current);
      current = undefined;
    }
  });
  if (current !== undefined) out.push(current);
  return out;
}

/** `$NAME` and `${NAME}` from the ARGs (and earlier ENVs); an undefined one is an error. */
function substitute(value, vars, where) {
  return value.replace(/\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g, (_, a, b) => {
    const name = a ?? b;
    if (!(name in vars)) throw new ContainerfileError(`${where}: $${name} is not an ARG or ENV declared above`);
    return vars[name];
  });
}

/** `k=v k2="v 2"` pairs (double quotes, backslash escapes), as ENV and LABEL take them. */
function keyValues(text, where) {
  const pairs = [];
  let i = 0;
  const s = text.trim();
  while (i < s.length) {
    while (s[i] === ' ' || s[i] === '\t') i++;
    if (i >= s.length) break;
    const eq = s.indexOf('=', i);
    if (eq < 0 || /\s/.test(s.slice(i, eq)))
      throw new ContainerfileError(`${where}: expected KEY=VALUE pairs, got "${s.slice(i)}"`);
    const key = s.slice(i, eq);
    i = eq + 1;
    let value = '';
    if (s[i] === '"') {
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length) i++;
        value += s[i++];
      }
      if (s[i] !== '"') throw new ContainerfileError(`${where}: unterminated quote in the value of ${key}`);
      i++;
    } else {
      while (i < s.length && !/\s/.test(s[i])) value += s[i++];
    }
    pairs.push([key, value]);
  }
  return pairs;
}

function execForm(text, where) {
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || parsed.some((a) => typeof a !== 'string')) {
    throw new ContainerfileError(
      `${where}: only the JSON (exec) form ["prog", "arg"] is supported: the image has no shell`,
    );
  }
  return parsed;
}

export function parseContainerfile(text, buildArgs = {}) {
  const vars = {};
  const copies = [];
  const config = { env: [], labels: {} };
  let sawFrom = false;
  for (const { no, text: line } of logicalLines(text)) {
    const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(line);
    const instruction = m[1].toUpperCase();
    const rest = m[2].trim();
    const where = `line ${no} (${instruction})`;
    if (!sawFrom && instruction !== 'FROM' && instruction !== 'ARG')
      throw new ContainerfileError(`${where}: FROM scratch must come first`);
    switch (instruction) {
      case 'FROM':
        if (rest !== 'scratch')
          throw new ContainerfileError(
            `${where}: only FROM scratch is supported (no base image is pulled), got "${rest}"`,
          );
        sawFrom = true;
        break;
      case 'ARG': {
        const [, name, dflt] = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(rest) ?? [];
        if (!name) throw new ContainerfileError(`${where}: expected NAME or NAME=default`);
        vars[name] = buildArgs[name] ?? (dflt === undefined ? '' : dflt.replace(/^"(.*)"$/, '$1'));
        break;
      }
      case 'COPY': {
        const words = rest.split(/\s+/);
        let chown;
        while (words[0]?.startsWith('--')) {
          const flag = words.shift();
          const c = /^--chown=(\d+(?::\d+)?)$/.exec(flag);
          if (!c) throw new ContainerfileError(`${where}: only --chown=UID[:GID] (numeric) is supported, got ${flag}`);
          chown = c[1].includes(':') ? c[1] : `${c[1]}:${c[1]}`;
        }
        if (words.length !== 2)
          throw new ContainerfileError(`${where}: expected COPY [--chown=U:G] SRC DEST with one source`);
        const [src, dest] = words.map((w) => substitute(w, vars, where));
        if (src.startsWith('/') || src.split('/').includes('..'))
          throw new ContainerfileError(`${where}: the source ${src} must stay inside the build context`);
        copies.push({ src, dest, ...(chown ? { chown } : {}) });
        break;
      }
      case 'USER':
        config.user = substitute(rest, vars, where);
        break;
      case 'WORKDIR':
        config.workdir = substitute(rest, vars, where);
        break;
      case 'STOPSIGNAL':
        config.stopsignal = substitute(rest, vars, where);
        break;
      case 'ENV':
        for (const [k, v] of keyValues(rest, where)) {
          const value = substitute(v, vars, where);
          config.env = config.env.filter((e) => !e.startsWith(`${k}=`)).concat(`${k}=${value}`);
          vars[k] = value;
        }
        break;
      case 'LABEL':
        for (const [k, v] of keyValues(rest, where)) config.labels[k] = substitute(v, vars, where);
        break;
      case 'ENTRYPOINT':
        config.entrypoint = execForm(rest, where);
        break;
      case 'CMD':
        config.cmd = execForm(rest, where);
        break;
      default:
        throw new ContainerfileError(
          `${where}: ${instruction} is not supported by images/oci.sh (the image has no shell to RUN anything)`,
        );
    }
  }
  if (!sawFrom) throw new ContainerfileError('no FROM scratch line');
  return { copies, config };
}

function main(argv) {
  const [file, ...rest] = argv;
  if (!file) throw new ContainerfileError('usage: containerfile.mjs FILE [--build-arg NAME=VALUE]...');
  const buildArgs = {};
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    const value = flag === '--build-arg' ? rest[++i] : undefined;
    const m = value === undefined ? null : /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(value);
    if (!m)
      throw new ContainerfileError(`${flag}${value === undefined ? '' : ` ${value}`}: expected --build-arg NAME=VALUE`);
    buildArgs[m[1]] = m[2];
  }
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ContainerfileError(`cannot read ${file}: ${err.message}`);
  }
  try {
    return parseContainerfile(text, buildArgs);
  } catch (err) {
    if (err instanceof ContainerfileError) err.message = `${file}: ${err.message}`;
    throw err;
  }
}

try {
  process.stdout.write(`${JSON.stringify(main(process.argv.slice(2)), null, 2)}\n`);
} catch (err) {
  if (!(err instanceof ContainerfileError)) throw err;
  process.stderr.write(`containerfile: ${err.message}\n`);
  process.exitCode = 2;
}
