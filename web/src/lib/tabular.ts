// Schema and preview of a tabular dataset's first file, read in the browser: delimited text
// (quotes as RFC 4180 has them, the definition's separator and header) and JSON lines. The
// types are a guess from the rows read, the way pandas would read them: integer, number,
// boolean, else string (object for JSON objects and lists).

export type ColumnType = 'integer' | 'number' | 'boolean' | 'string' | 'object';

export interface Column {
  name: string;
  type: ColumnType;
  /** Rows read with no value in this column (empty field, missing key, null). */
  empty: number;
}

export interface Table {
  columns: Column[];
  /** The records read (without the header), each cell as text. */
  rows: string[][];
  /** More records follow in the file than were read. */
  more: boolean;
}

/**
 * Splits delimited text into records of fields. Quoted fields may hold the separator, newlines
 * and doubled quotes. Stops after maxRecords; when `complete` is false (the text is the head of
 * a larger file) a last record without its line end is dropped: it may be cut short.
 */
export function splitDelimited(
  text: string,
  separator: string,
  maxRecords: number,
  complete = true,
): { records: string[][]; more: boolean } {
  const sep = separator || ',';
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false; // inside a quoted field
  let i = 0;
  const n = text.length;
  if (text.charCodeAt(0) === 0xfeff) i = 1; // byte-order mark
  const endRecord = () => {
    record.push(field);
    field = '';
    records.push(record);
    record = [];
  };
  while (i < n) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      field += c;
      i++;
      continue;
    }
    if (c === '"' && field === '') {
      quoted = true;
      i++;
      continue;
    }
    if (text.startsWith(sep, i)) {
      record.push(field);
      field = '';
      i += sep.length;
      continue;
    }
    if (c === '\r' || c === '\n') {
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
      endRecord();
      if (records.length >= maxRecords) {
        return { records, more: i < n || !complete };
      }
      continue;
    }
    field += c;
    i++;
  }
  // The end of the text: a record without its line end.
  if (field !== '' || record.length > 0) {
    if (complete && !quoted) endRecord();
    else return { records, more: true };
  }
  return { records, more: false };
}

const INTEGER = /^[+-]?\d+$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const BOOLEAN = /^(true|false)$/i;

/** The type of a column from its text values (empty ones are left out); all empty: string. */
export function inferType(values: string[]): ColumnType {
  let integer = true;
  let number = true;
  let boolean = true;
  let any = false;
  for (const raw of values) {
    const v = raw.trim();
    if (v === '') continue;
    any = true;
    if (integer && !INTEGER.test(v)) integer = false;
    if (number && !NUMBER.test(v)) number = false;
    if (boolean && !BOOLEAN.test(v)) boolean = false;
    if (!integer && !number && !boolean) return 'string';
  }
  if (!any) return 'string';
  if (integer) return 'integer';
  if (number) return 'number';
  if (boolean) return 'boolean';
  return 'string';
}

export interface DelimitedOptions {
  separator?: string;
  /** The first record names the columns (the default); otherwise they are 0, 1, … as pandas names them. */
  header?: boolean;
  maxRows?: number;
  /** The text is the whole file (false: only its head, so a cut last line is dropped). */
  complete?: boolean;
}

/** Reads the first maxRows records of delimited text into a schema and rows. */
export function previewDelimited(text: string, opts: DelimitedOptions = {}): Table {
  const header = opts.header !== false;
  const maxRows = opts.maxRows ?? 50;
  const { records, more } = splitDelimited(text, opts.separator || ',', maxRows + (header ? 1 : 0), opts.complete ?? true);
  const head = header ? records[0] || [] : [];
  const rows = header ? records.slice(1) : records;
  const width = Math.max(head.length, ...rows.map((r) => r.length), 0);
  const names: string[] = [];
  const seen = new Map<string, number>();
  for (let c = 0; c < width; c++) {
    let name = header ? (head[c] ?? '').trim() : String(c);
    if (header && name === '') name = `Unnamed: ${c}`; // pandas' name for a blank header
    const k = seen.get(name) || 0;
    seen.set(name, k + 1);
    names.push(k ? `${name}.${k}` : name); // pandas' mangling of repeated names
  }
  const columns: Column[] = names.map((name, c) => {
    const values = rows.map((r) => r[c] ?? '');
    return { name, type: inferType(values), empty: values.filter((v) => v.trim() === '').length };
  });
  return { columns, rows: rows.map((r) => names.map((_, c) => r[c] ?? '')), more };
}

function jsonType(v: unknown): ColumnType | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  if (typeof v === 'string') return 'string';
  return 'object';
}

function merge(a: ColumnType | undefined, b: ColumnType): ColumnType {
  if (!a || a === b) return b;
  if ((a === 'integer' && b === 'number') || (a === 'number' && b === 'integer')) return 'number';
  return 'string';
}

/**
 * Reads the first maxRows lines of JSON-lines text (one object per line; blank lines skipped)
 * into a schema: the keys in the order they first appear. A line that is not a JSON object is
 * an error naming its line number.
 */
export function previewJsonLines(text: string, opts: { maxRows?: number; complete?: boolean } = {}): Table {
  const maxRows = opts.maxRows ?? 50;
  const lines = text.split('\n');
  if (!(opts.complete ?? true) && lines.length > 0) lines.pop(); // may be cut short
  const order: string[] = [];
  const types = new Map<string, ColumnType | undefined>();
  const objects: Record<string, unknown>[] = [];
  let more = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    if (objects.length >= maxRows) {
      more = true;
      break;
    }
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch {
      throw new Error(`line ${i + 1} is not JSON: '${line.slice(0, 80)}'`);
    }
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new Error(`line ${i + 1} is not a JSON object`);
    objects.push(obj as Record<string, unknown>);
    for (const [k, v] of Object.entries(obj)) {
      if (!types.has(k)) {
        order.push(k);
        types.set(k, undefined);
      }
      const t = jsonType(v);
      if (t) types.set(k, merge(types.get(k), t));
    }
  }
  if (!(opts.complete ?? true)) more = true;
  const columns = order.map((name) => ({
    name,
    type: types.get(name) || 'string',
    empty: objects.filter((o) => o[name] === null || o[name] === undefined).length,
  }));
  const cell = (v: unknown) => (v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  return { columns, rows: objects.map((o) => order.map((k) => cell(o[k]))), more };
}
