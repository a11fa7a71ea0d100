/**
 * Just enough Markdown for checking docs: fenced code blocks (with their info string and line),
 * heading anchors as GitHub renders them, and inline links. Not a renderer.
 */

export interface CodeBlock {
  /** The info string's first word (`yaml`, `sh`, `explain`); empty when none. */
  lang: string;
  /** The words after it (`runnable`). */
  flags: string[];
  text: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The `##`/`###` heading the block is under (empty before the first). */
  section: string;
}

export interface Link {
  target: string;
  line: number;
}

export interface MarkdownFile {
  blocks: CodeBlock[];
  links: Link[];
  anchors: Set<string>;
}

/** GitHub's heading anchor: lower case, punctuation but `-` and `_` dropped, spaces to `-`; repeats get `-1`, `-2`. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

export function parseMarkdown(text: string): MarkdownFile {
  const lines = text.split('\n');
  const blocks: CodeBlock[] = [];
  const links: Link[] = [];
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const fence = /^(\s*)(`{3,}|~{3,})\s*([^`\s]*)\s*(.*)$/.exec(lines[i]);
    if (fence) {
      const [, indent, marks, lang, rest] = fence;
      const body: string[] = [];
      let j = i + 1;
      while (j < lines.length && !(lines[j].trim().startsWith(marks) && lines[j].trim().replace(/[`~]/g, '') === '')) {
        body.push(indent && lines[j].startsWith(indent) ? lines[j].slice(indent.length) : lines[j]);
        j++;
      }
      blocks.push({ lang: lang.toLowerCase(), flags: rest.split(/\s+/).filter(Boolean), text: body.join('\n') + '\n', line: i + 1, section });
      i = j;
      continue;
    }
    const heading = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(lines[i]);
    if (heading) {
      const base = slug(heading[2]);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n === 0 ? base : `${base}-${n}`);
      if (heading[1].length >= 2) section = heading[2];
    }
    // Inline code spans are not links: drop them before looking.
    const prose = lines[i].replace(/`[^`]*`/g, '');
    for (const m of prose.matchAll(/\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) links.push({ target: m[1], line: i + 1 });
    for (const m of prose.matchAll(/<a\s+[^>]*href="([^"]+)"/g)) links.push({ target: m[1], line: i + 1 });
  }
  return { blocks, links, anchors };
}
