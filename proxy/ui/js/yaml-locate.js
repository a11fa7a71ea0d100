/**
 * Finds the line a validation issue's path (`rules[2].match.domains[0]`) points at in the YAML
 * the administrator typed, by indentation alone. Good enough to jump to the spot; for JSON or
 * flow style (`[a, b]`) it returns the deepest line it could follow, or null.
 */

/** @typedef {{ n: number, col: number, key: string | null, dash: number }} Line */

/** @param {string} raw @param {number} n @returns {Line | null} */
function scan(raw, n) {
  const m = /^(\s*)(-\s+)?(?:(["']?)([^"'#:\s][^"'#:]*?)\3\s*:(?:\s|$))?/.exec(raw);
  const text = raw.trim();
  if (!text || text.startsWith('#')) return null;
  const indent = m?.[1].length ?? 0;
  const dash = m?.[2] ? indent : -1;
  const col = indent + (m?.[2]?.length ?? 0);
  return { n, col, key: m?.[4] ?? null, dash };
}

/**
 * @param {string} text the YAML as in the editor
 * @param {string} path e.g. `rules[0].action`
 * @param {string} [policySet] narrows the search to the document whose metadata.name it is
 * @returns {number | null} 1-based line number
 */
export function locatePath(text, path, policySet) {
  const lines = text
    .split('\n')
    .map(scan)
    .filter((l) => l !== null);
  // Several YAML documents: start at the one naming the policy set, if any does.
  let lo = 0;
  let hi = lines.length;
  const raw = text.split('\n');
  const docStarts = [0, ...raw.flatMap((l, i) => (/^---\s*$/.test(l) ? [i + 1] : []))];
  if (policySet && docStarts.length > 1) {
    const named = raw.findIndex((l) =>
      new RegExp(`^\\s+name:\\s*["']?${policySet.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}["']?\\s*$`).test(l),
    );
    if (named >= 0) {
      const from = Math.max(...docStarts.filter((s) => s <= named));
      const to = Math.min(raw.length, ...docStarts.filter((s) => s > named));
      lo = lines.findIndex((l) => l.n >= from);
      hi = lines.findIndex((l) => l.n >= to);
      if (hi < 0) hi = lines.length;
    }
  }
  const segments = path.match(/[^.[\]]+|\[\d+\]/g) ?? [];
  // Paths are relative to the spec; a manifest nests it under `spec:`.
  if (segments[0] !== 'spec') {
    const spec = lines.slice(lo, hi).find((l) => l.key === 'spec' && l.col === 0);
    if (spec) {
      lo = lines.indexOf(spec) + 1;
      hi = blockEnd(lines, lo, hi, 0, false);
    }
  }
  let parent = -1;
  /** @type {number | null} */
  let found = null;
  for (const seg of segments) {
    const index = /^\[(\d+)\]$/.exec(seg);
    if (index) {
      const items = lines.slice(lo, hi).filter((l) => l.dash >= 0 && l.dash >= parent);
      const dashCol = Math.min(...items.map((l) => l.dash));
      const item = items.filter((l) => l.dash === dashCol)[Number(index[1])];
      if (!item) break;
      const at = lines.indexOf(item);
      found = item.n + 1;
      hi = blockEnd(lines, at + 1, hi, item.dash, true);
      lo = at;
      parent = item.dash;
    } else {
      const children = lines.slice(lo, hi).filter((l) => l.col > parent && l.key !== null);
      const childCol = Math.min(...children.map((l) => l.col));
      const line = children.find((l) => l.col === childCol && l.key === seg);
      if (!line) break;
      const at = lines.indexOf(line);
      found = line.n + 1;
      lo = at + 1;
      hi = blockEnd(lines, lo, hi, line.col, false);
      parent = line.col;
    }
  }
  return found;
}

/**
 * First line at or after `from` (before `hi`) that leaves the block opened at column `col`: a
 * key's block also holds a sequence written at the key's own column (`rules:\n- name: …`).
 * @param {Line[]} lines @param {number} from @param {number} hi @param {number} col @param {boolean} item
 */
function blockEnd(lines, from, hi, col, item) {
  for (let i = from; i < hi; i++) {
    const l = lines[i];
    if (l.dash >= 0 ? (item ? l.dash <= col : l.dash < col) : l.col <= col) return i;
  }
  return hi;
}
