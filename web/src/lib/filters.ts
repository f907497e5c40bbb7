// Runs-table filter state ↔ hash query string ↔ API query parameters.

export type MetricOp = '<' | '<=' | '>' | '>=' | '=';

export interface MetricFilter {
  key: string;
  op: MetricOp;
  value: number;
}

export interface KV {
  key: string;
  value: string;
}

export interface RunFilters {
  status: string;
  target: string;
  experiment: string;
  tag: string; // "k=v" (comma-separated for several)
  param: string; // "k=v"
  metric: string; // "loss<0.5" (comma-separated for several)
  sort: string; // created | started | ended | metric:<key> | param:<key>
  order: 'asc' | 'desc';
}

export const DEFAULT_FILTERS: RunFilters = {
  status: '',
  target: '',
  experiment: '',
  tag: '',
  param: '',
  metric: '',
  sort: 'created',
  order: 'desc',
};

const KEYS: (keyof RunFilters)[] = ['status', 'target', 'experiment', 'tag', 'param', 'metric', 'sort', 'order'];

export const METRIC_FILTER_HELP = 'metric filter must look like loss<0.5';

/** "loss<0.5" → {key:"loss", op:"<", value:0.5}; throws Error(METRIC_FILTER_HELP + detail). */
export function parseMetricFilter(text: string): MetricFilter {
  const t = text.trim();
  const m = /^([^<>=]+?)\s*(<=|>=|<|>|=)\s*(.+)$/.exec(t);
  if (!m) throw new Error(`${METRIC_FILTER_HELP} (key, one of < <= > >= =, a number); got '${t}'`);
  const key = m[1].trim();
  const raw = m[3].trim();
  if (!key) throw new Error(`${METRIC_FILTER_HELP}: the metric name is missing in '${t}'`);
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(raw)) {
    throw new Error(`${METRIC_FILTER_HELP}: '${raw}' is not a number`);
  }
  return { key, op: m[2] as MetricOp, value: Number(raw) };
}

export function parseMetricFilters(text: string): MetricFilter[] {
  return splitList(text).map(parseMetricFilter);
}

/** "k=v, a=b" → [{key:k,value:v},{key:a,value:b}]; throws on a part without "=" or key. */
export function parseKVList(text: string, what: 'tag' | 'param'): KV[] {
  return splitList(text).map((part) => {
    const i = part.indexOf('=');
    if (i <= 0) throw new Error(`${what} filter must look like ${what === 'tag' ? 'team=nlp' : 'lr=0.01'}; got '${part}'`);
    return { key: part.slice(0, i).trim(), value: part.slice(i + 1).trim() };
  });
}

function splitList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Filters → hash query ("status=Running&metric=loss%3C0.5"); defaults are left out. */
export function filtersToQuery(f: RunFilters): string {
  const q = new URLSearchParams();
  for (const k of KEYS) {
    const v = f[k];
    if (v && v !== DEFAULT_FILTERS[k]) q.set(k, v);
  }
  return q.toString();
}

/** Hash query → filters (unknown keys ignored, bad order → default). */
export function filtersFromQuery(query: string | URLSearchParams): RunFilters {
  const q = typeof query === 'string' ? new URLSearchParams(query.replace(/^\?/, '')) : query;
  const f: RunFilters = { ...DEFAULT_FILTERS };
  for (const k of KEYS) {
    const v = q.get(k);
    if (v !== null) (f as any)[k] = v;
  }
  if (f.order !== 'asc' && f.order !== 'desc') f.order = DEFAULT_FILTERS.order;
  if (!f.sort) f.sort = DEFAULT_FILTERS.sort;
  return f;
}

/** Problems with the free-text filters, by field (empty when all parse). */
export function validateFilters(f: RunFilters): Partial<Record<'tag' | 'param' | 'metric', string>> {
  const errs: Partial<Record<'tag' | 'param' | 'metric', string>> = {};
  try {
    parseKVList(f.tag, 'tag');
  } catch (e) {
    errs.tag = (e as Error).message;
  }
  try {
    parseKVList(f.param, 'param');
  } catch (e) {
    errs.param = (e as Error).message;
  }
  try {
    parseMetricFilters(f.metric);
  } catch (e) {
    errs.metric = (e as Error).message;
  }
  return errs;
}

/** Filters → GET /api/v1/runs query parameters (without paging). Invalid free-text parts are skipped. */
export function filtersToApiParams(f: RunFilters): [string, string][] {
  const out: [string, string][] = [];
  if (f.experiment) out.push(['experiment', f.experiment]);
  if (f.target) out.push(['target', f.target]);
  if (f.status) out.push(['status', f.status]);
  const safe = <T>(fn: () => T[]): T[] => {
    try {
      return fn();
    } catch {
      return [];
    }
  };
  for (const kv of safe(() => parseKVList(f.tag, 'tag'))) out.push([`tag.${kv.key}`, kv.value]);
  for (const kv of safe(() => parseKVList(f.param, 'param'))) out.push([`param.${kv.key}`, kv.value]);
  for (const m of safe(() => parseMetricFilters(f.metric))) out.push([`metric.${m.key}`, `${m.op}${m.value}`]);
  if (f.sort) out.push(['sort', f.sort]);
  out.push(['order', f.order]);
  return out;
}

/** Next sort state when a column header is clicked: same column flips the order, a new one starts desc. */
export function toggleSort(f: RunFilters, sortKey: string): RunFilters {
  if (f.sort === sortKey) return { ...f, order: f.order === 'desc' ? 'asc' : 'desc' };
  return { ...f, sort: sortKey, order: 'desc' };
}
