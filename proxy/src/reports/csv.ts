/** CSV export of report rows (RFC 4180: CRLF line ends, fields quoted when they need it). */

export interface CsvColumn<T> {
  header: string;
  value(row: T): string | number | null | undefined;
}

/**
 * Cells that a spreadsheet would run as a formula (=, +, -, @, tab, CR) get a leading `'`:
 * URLs and user names come from client traffic, and the export is opened by an administrator.
 */
const FORMULA = /^[=+\-@\t\r]/;

export function csvCell(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return String(v);
  const s = FORMULA.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(s) || s !== s.trim() ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv<T>(columns: readonly CsvColumn<T>[], rows: readonly T[]): string {
  const lines = [columns.map((c) => csvCell(c.header)).join(',')];
  for (const row of rows) lines.push(columns.map((c) => csvCell(c.value(row))).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

export const isoTime = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());
