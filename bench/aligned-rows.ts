/**
 * Rows of cells as lines of a plain-text table: each column as wide as its widest cell, two spaces
 * between columns, text columns flush left and figures flush right. Trailing blanks are trimmed.
 */
export function alignedRows(table: string[][], leftColumns: ReadonlySet<number> = new Set([0])): string[] {
  const widths = columnWidths(table);
  return table.map((row) =>
    row
      .map((c, i) => (leftColumns.has(i) ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd(),
  );
}

/** A row of dashes as wide as each column, to put under the header: `[header, underline(t), ...body]`. */
export function underline(table: string[][]): string[] {
  return columnWidths(table).map((w) => '-'.repeat(w));
}

function columnWidths(table: string[][]): number[] {
  return table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
}
