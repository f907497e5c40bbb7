// A run's non-numeric metrics (GET /runs/{id}/values) as what the run page shows: text values,
// tables (log_table, the rows of log_row, Azure ML's confusion matrix) and images (log_image).
import type { RunValue } from '../types';

export interface ValueTable {
  columns: string[];
  /** Cells as display text; a column missing from a row is ''. */
  rows: string[][];
}

export type ValueView =
  | { kind: 'text'; key: string; values: string[] }
  | { kind: 'table'; key: string; title: string; table: ValueTable }
  | { kind: 'image'; key: string; paths: string[] }
  | { kind: 'json'; key: string; type: string; text: string };

/** A cell or a value as text: strings as they are, null as '', the rest as JSON. */
export function cellText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/** {column: [cells]} as a table; shorter columns are padded with ''. */
export function columnsTable(columns: Record<string, unknown>): ValueTable {
  const names = Object.keys(columns);
  const cols = names.map((n) => (Array.isArray(columns[n]) ? (columns[n] as unknown[]) : [columns[n]]));
  const height = Math.max(0, ...cols.map((c) => c.length));
  const rows: string[][] = [];
  for (let i = 0; i < height; i++) rows.push(cols.map((c) => (i < c.length ? cellText(c[i]) : '')));
  return { columns: names, rows };
}

/** Rows ({column: cell} each) as one table, columns in the order first seen. */
export function rowsTable(rows: Record<string, unknown>[]): ValueTable {
  const columns: string[] = [];
  for (const r of rows) for (const c of Object.keys(r)) if (!columns.includes(c)) columns.push(c);
  return { columns, rows: rows.map((r) => columns.map((c) => (c in r ? cellText(r[c]) : ''))) };
}

/** Azure ML's confusion matrix ({data: {class_labels, matrix}}) as a table, or null. */
export function confusionTable(v: unknown): ValueTable | null {
  const data = (v as { data?: { class_labels?: unknown; matrix?: unknown } } | null)?.data;
  if (!data || !Array.isArray(data.class_labels) || !Array.isArray(data.matrix)) return null;
  const labels = data.class_labels.map(cellText);
  return {
    columns: ['actual \\ predicted', ...labels],
    rows: (data.matrix as unknown[]).map((row, i) => [labels[i] ?? '', ...(Array.isArray(row) ? row.map(cellText) : [])]),
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One view per key, keys sorted; the last value of a key wins except for rows (all of them)
 * and strings and images (every value, in order). */
export function valueViews(values: Record<string, RunValue[]>): ValueView[] {
  const out: ValueView[] = [];
  for (const key of Object.keys(values).sort()) {
    const items = values[key] || [];
    if (items.length === 0) continue;
    const rows = items.filter((i) => i.type === 'row' && isObject(i.value)).map((i) => i.value as Record<string, unknown>);
    if (rows.length > 0) {
      out.push({ kind: 'table', key, title: `${key} (${rows.length} rows)`, table: rowsTable(rows) });
      continue;
    }
    const images = items.filter((i) => i.type === 'image' && typeof i.value === 'string');
    if (images.length > 0) {
      out.push({ kind: 'image', key, paths: images.map((i) => i.value as string) });
      continue;
    }
    const last = items[items.length - 1];
    if (last.type === 'table' && isObject(last.value)) {
      out.push({ kind: 'table', key, title: key, table: columnsTable(last.value) });
    } else if (last.type === 'confusion_matrix' && confusionTable(last.value)) {
      out.push({ kind: 'table', key, title: `${key} (confusion matrix)`, table: confusionTable(last.value)! });
    } else if (last.type === 'string' || last.type === 'none' || last.type === 'list') {
      out.push({ kind: 'text', key, values: items.map((i) => cellText(i.value)) });
    } else {
      out.push({ kind: 'json', key, type: last.type, text: JSON.stringify(last.value, null, 2) });
    }
  }
  return out;
}
