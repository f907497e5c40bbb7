// The runs table: server-side paging (pages of 200 by limit/offset), sorting and filtering, with
// virtualised rows so it stays fast with 100,000 runs.
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, errorMessage } from '../api';
import { Code, Empty, ErrorBox, StatusBadge } from '../components/common';
import {
  filtersFromQuery,
  filtersToApiParams,
  filtersToQuery,
  toggleSort,
  validateFilters,
  DEFAULT_FILTERS,
  type RunFilters,
} from '../lib/filters';
import { formatCount, formatMetric, formatTime, runDuration } from '../lib/format';
import { href, runHref } from '../lib/router';
import { RUN_STATUSES } from '../lib/status';
import { pagesFor, pagesToEvict, spacerHeight, visibleRange } from '../lib/virtual';
import { replaceHash, useLocalStorage, useNow, useWorkspaceChanged } from '../hooks';
import type { Run, RunKeys } from '../types';

const ROW_H = 32;
const PAGE = 200;
const MAX_PAGES = 25;

interface Column {
  id: string; // testid suffix: col-<id>
  title: string;
  width: number;
  sort?: string; // API sort key
  cell: (r: Run, now: number) => any;
}

interface ColumnChoice {
  params: string[];
  metrics: string[];
}

function baseColumns(): Column[] {
  return [
    {
      id: 'id',
      title: 'Run',
      width: 250,
      cell: (r) => (
        <a href={runHref(r)} class="mono" onClick={(e) => e.stopPropagation()} title={r.id}>
          {r.kind === 'sweep' && <span class="kind-tag">sweep</span>}
          {r.id}
        </a>
      ),
    },
    { id: 'status', title: 'Status', width: 108, cell: (r) => <StatusBadge status={r.status} /> },
    { id: 'experiment', title: 'Experiment', width: 130, cell: (r) => r.experiment },
    { id: 'target', title: 'Target', width: 110, cell: (r) => r.target },
    { id: 'script', title: 'Script', width: 150, cell: (r) => <span title={(r.arguments || []).join(' ')}>{r.script}</span> },
    { id: 'created', title: 'Created', width: 150, sort: 'created', cell: (r) => formatTime(r.created_at) },
    { id: 'started', title: 'Started', width: 150, sort: 'started', cell: (r) => formatTime(r.started_at) },
    { id: 'ended', title: 'Ended', width: 150, sort: 'ended', cell: (r) => formatTime(r.ended_at) },
    { id: 'duration', title: 'Duration', width: 90, cell: (r, now) => runDuration(r.started_at || 0, r.ended_at || 0, now) },
  ];
}

export function RunsPage({ experiment, query }: { experiment?: string; query: URLSearchParams }) {
  const filters = useMemo(() => {
    const f = filtersFromQuery(query);
    if (experiment) f.experiment = experiment;
    return f;
  }, [query.toString(), experiment]);
  const [choice, setChoice] = useLocalStorage<ColumnChoice>('ferry.runs.columns', { params: [], metrics: [] });
  const withData = choice.params.length > 0 || choice.metrics.length > 0;

  const columns = useMemo<Column[]>(() => {
    const cols = baseColumns();
    for (const p of choice.params) {
      cols.push({ id: `param-${p}`, title: p, width: 110, sort: `param:${p}`, cell: (r) => r.params?.[p] ?? '' });
    }
    for (const m of choice.metrics) {
      cols.push({
        id: `metric-${m}`,
        title: m,
        width: 110,
        sort: `metric:${m}`,
        cell: (r) => formatMetric(r.metrics?.[m]?.last),
      });
    }
    return cols;
  }, [choice]);

  // The data: pages of rows for the current filter signature.
  const sig = JSON.stringify([filtersToApiParams(filters), withData]);
  const pages = useRef(new Map<number, Run[]>());
  const loading = useRef(new Set<number>());
  const ctrl = useRef<AbortController>(new AbortController());
  const [total, setTotal] = useState<number | null>(null);
  const [version, setVersion] = useState(0);
  const [error, setError] = useState('');
  const [scroll, setScroll] = useState({ top: 0, height: 600 });
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const scroller = useRef<HTMLDivElement>(null);
  const marked = useRef(false);
  const now = useNow(1000);

  const range = visibleRange(scroll.top, scroll.height, ROW_H, total ?? 0, 12);

  const fetchPage = (p: number, force = false) => {
    if (!force && (pages.current.has(p) || loading.current.has(p))) return;
    loading.current.add(p);
    const signal = ctrl.current.signal;
    const q: [string, string][] = [
      ...filtersToApiParams(filters),
      ['limit', String(PAGE)],
      ['offset', String(p * PAGE)],
    ];
    if (p === 0 || force) q.push(['count', 'true']);
    if (withData) q.push(['with', 'params,metrics']);
    api
      .runs(q, signal)
      .then((res) => {
        if (signal.aborted) return;
        loading.current.delete(p);
        const rows = res.runs || [];
        pages.current.set(p, rows);
        if (typeof res.total === 'number') setTotal(res.total);
        else setTotal((t) => Math.max(p === 0 ? 0 : t ?? 0, p * PAGE + rows.length + (rows.length === PAGE ? PAGE : 0)));
        setError('');
        // Keep memory bounded: drop pages far from this one.
        for (const e of pagesToEvict([...pages.current.keys()], p, MAX_PAGES)) pages.current.delete(e);
        setVersion((v) => v + 1);
      })
      .catch((e) => {
        loading.current.delete(p);
        if (signal.aborted || (e as Error).name === 'AbortError') return;
        setError(errorMessage(e));
      });
  };

  // New filters/sort: start over at the top.
  useEffect(() => {
    ctrl.current.abort();
    ctrl.current = new AbortController();
    pages.current = new Map();
    loading.current = new Set();
    setTotal(null);
    setError('');
    if (scroller.current) scroller.current.scrollTop = 0;
    setScroll((s) => ({ ...s, top: 0 }));
    fetchPage(0);
    return () => ctrl.current.abort();
  }, [sig]);

  // Fetch the pages in view.
  useEffect(() => {
    if (total === null) return;
    for (const p of pagesFor(range, PAGE)) fetchPage(p);
  }, [range.start, range.end, total, sig]);

  // Live: re-fetch what is in view when the workspace changed.
  useWorkspaceChanged(() => {
    const inView = pagesFor(range, PAGE);
    const want = inView.length ? inView : [0];
    for (const p of [...pages.current.keys()]) if (!want.includes(p)) pages.current.delete(p);
    for (const p of want) fetchPage(p, true);
  });

  // Viewport size.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setScroll((s) => ({ ...s, height: el.clientHeight })));
    ro.observe(el);
    setScroll({ top: el.scrollTop, height: el.clientHeight });
    return () => ro.disconnect();
  }, [total === null || total === 0]);

  useEffect(() => {
    if (!marked.current && pages.current.has(0) && (total ?? 0) > 0) {
      marked.current = true;
      try {
        performance.mark('ferry:runs-first-page');
      } catch {
        /* ignore */
      }
    }
  }, [version, total]);

  const setFilters = (f: RunFilters) => {
    const routeExp = experiment && f.experiment === experiment;
    const q = filtersToQuery(routeExp ? { ...f, experiment: '' } : f);
    replaceHash(routeExp ? href.experiment(experiment as string, q) : href.runs(q));
  };

  const width = 36 + columns.reduce((a, c) => a + c.width, 0);
  const rows: any[] = [];
  for (let i = range.start; i < range.end; i++) {
    const page = pages.current.get(Math.floor(i / PAGE));
    const r = page?.[i % PAGE];
    const top = i * ROW_H;
    if (!r) {
      rows.push(<div class="vrow placeholder" style={{ top, width }} key={`p${i}`} />);
      continue;
    }
    const sel = selected.has(r.id);
    rows.push(
      <div
        class={`vrow ${sel ? 'selected' : ''}`}
        style={{ top, width }}
        key={r.id}
        data-testid="run-row"
        data-run-id={r.id}
        onClick={() => (location.hash = runHref(r))}
      >
        <div class="vcell sel" style={{ width: 36 }} onClick={(e) => e.stopPropagation()}>
          <input
            type="checkbox"
            data-testid="run-select"
            aria-label={`select ${r.id}`}
            checked={sel}
            onChange={(e) => {
              const s = new Set(selected);
              if ((e.target as HTMLInputElement).checked) s.add(r.id);
              else s.delete(r.id);
              setSelected(s);
            }}
          />
        </div>
        {columns.map((c) => (
          <div class="vcell" style={{ width: c.width }} key={c.id}>
            {c.cell(r, now)}
          </div>
        ))}
      </div>,
    );
  }

  const active = filtersToQuery({ ...filters, sort: DEFAULT_FILTERS.sort, order: DEFAULT_FILTERS.order }) !== '';
  return (
    <div class="page runs-page">
      <div class="page-head">
        <h1>{experiment ? `Experiment ${experiment}` : 'Runs'}</h1>
        <span class="muted" data-testid="runs-total">
          {total === null ? 'loading…' : `${formatCount(total)} run${total === 1 ? '' : 's'}`}
        </span>
        <span class="spacer" />
        <ColumnPicker experiment={filters.experiment} choice={choice} onChange={setChoice} />
        <a
          class={`btn primary ${selected.size === 0 ? 'disabled' : ''}`}
          data-testid="compare-button"
          href={selected.size ? href.compare([...selected]) : undefined}
          aria-disabled={selected.size === 0}
          title={selected.size ? `Compare ${selected.size} runs` : 'Select runs with the checkboxes first'}
          onClick={(e) => selected.size === 0 && e.preventDefault()}
        >
          Compare{selected.size ? ` (${selected.size})` : ''}
        </a>
      </div>
      <FilterBar filters={filters} onChange={setFilters} lockExperiment={!!experiment} />
      {error && <ErrorBox message={error} onRetry={() => fetchPage(0, true)} />}
      {total === 0 && !error ? (
        active ? (
          <Empty>
            No runs match these filters. <a href={experiment ? href.experiment(experiment) : href.runs()}>Clear the filters</a>
          </Empty>
        ) : (
          <Empty>
            No runs yet. Submit one with <Code>ferry run submit train.py</Code>
          </Empty>
        )
      ) : (
        <div
          class="vtable"
          data-testid="runs-table"
          ref={scroller}
          role="table"
          onScroll={(e) => {
            const el = e.currentTarget as HTMLDivElement;
            if (el.scrollTop !== scroll.top) setScroll({ top: el.scrollTop, height: el.clientHeight });
          }}
        >
          <div class="vhead" style={{ width }} role="row">
            <div class="vcell sel" style={{ width: 36 }}>
              <input
                type="checkbox"
                aria-label="select visible runs"
                title="Select the loaded rows in view"
                onChange={(e) => {
                  const s = new Set(selected);
                  const on = (e.target as HTMLInputElement).checked;
                  for (let i = range.start; i < range.end; i++) {
                    const r = pages.current.get(Math.floor(i / PAGE))?.[i % PAGE];
                    if (r) on ? s.add(r.id) : s.delete(r.id);
                  }
                  setSelected(s);
                }}
              />
            </div>
            {columns.map((c) => {
              const sorted = c.sort && filters.sort === c.sort;
              return (
                <div
                  key={c.id}
                  class={`vcell ${c.sort ? 'sortable' : ''} ${sorted ? 'sorted' : ''}`}
                  style={{ width: c.width }}
                  data-testid={`col-${c.id}`}
                  role="columnheader"
                  aria-sort={sorted ? (filters.order === 'asc' ? 'ascending' : 'descending') : undefined}
                  title={c.sort ? `Sort by ${c.title}` : undefined}
                  onClick={() => c.sort && setFilters(toggleSort(filters, c.sort))}
                >
                  {c.title}
                  {sorted && <span class="sort-arrow">{filters.order === 'asc' ? ' ▲' : ' ▼'}</span>}
                </div>
              );
            })}
          </div>
          <div class="vbody" style={{ height: spacerHeight(total ?? 0, ROW_H), width }}>
            {rows}
          </div>
        </div>
      )}
    </div>
  );
}

function FilterBar({
  filters,
  onChange,
  lockExperiment,
}: {
  filters: RunFilters;
  onChange: (f: RunFilters) => void;
  lockExperiment: boolean;
}) {
  const [targets, setTargets] = useState<string[]>([]);
  const [experiments, setExperiments] = useState<string[]>([]);
  useEffect(() => {
    api.computes().then((r) => setTargets((r.computes || []).map((c) => c.name))).catch(() => {});
    api.experiments().then((r) => setExperiments((r.experiments || []).map((e) => e.name))).catch(() => {});
  }, []);
  const withCurrent = (list: string[], cur: string) => (cur && !list.includes(cur) ? [...list, cur] : list);
  const sel = (field: 'status' | 'target' | 'experiment', label: string, opts: string[]) => (
    <label class="filter">
      <span>{label}</span>
      <select
        data-testid={`filter-${field}`}
        value={filters[field]}
        disabled={field === 'experiment' && lockExperiment}
        onChange={(e) => onChange({ ...filters, [field]: (e.target as HTMLSelectElement).value })}
      >
        <option value="">all</option>
        {withCurrent(opts, filters[field]).map((o) => (
          <option value={o} key={o}>
            {o}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <div class="filters">
      {sel('status', 'Status', RUN_STATUSES)}
      {sel('target', 'Target', targets)}
      {sel('experiment', 'Experiment', experiments)}
      <TextFilter field="tag" label="Tag" placeholder="team=nlp" filters={filters} onChange={onChange} />
      <TextFilter field="param" label="Param" placeholder="lr=0.01" filters={filters} onChange={onChange} />
      <TextFilter field="metric" label="Metric" placeholder="loss<0.5" filters={filters} onChange={onChange} />
    </div>
  );
}

function TextFilter(props: {
  field: 'tag' | 'param' | 'metric';
  label: string;
  placeholder: string;
  filters: RunFilters;
  onChange: (f: RunFilters) => void;
}) {
  const cur = props.filters[props.field];
  const [draft, setDraft] = useState(cur);
  const [err, setErr] = useState('');
  useEffect(() => {
    setDraft(cur);
    setErr('');
  }, [cur]);
  const commit = () => {
    if (draft === cur) {
      setErr('');
      return;
    }
    const next = { ...props.filters, [props.field]: draft.trim() };
    const e = validateFilters(next)[props.field];
    if (e) {
      setErr(e);
      return;
    }
    setErr('');
    props.onChange(next);
  };
  return (
    <label class={`filter ${err ? 'invalid' : ''}`}>
      <span>{props.label}</span>
      <input
        type="text"
        data-testid={`filter-${props.field}`}
        placeholder={props.placeholder}
        value={draft}
        title={err || `Press Enter to apply (several: separate with commas)`}
        onInput={(e) => setDraft((e.target as HTMLInputElement).value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter') commit();
          if (e.key === 'Escape') setDraft(cur);
        }}
        onBlur={commit}
      />
      {err && <span class="filter-error" data-testid="filter-error">{err}</span>}
    </label>
  );
}

function ColumnPicker({
  experiment,
  choice,
  onChange,
}: {
  experiment: string;
  choice: ColumnChoice;
  onChange: (c: ColumnChoice) => void;
}) {
  const [open, setOpen] = useState(false);
  const [keys, setKeys] = useState<RunKeys | null>(null);
  const [err, setErr] = useState('');
  const [q, setQ] = useState('');
  useEffect(() => {
    if (!open) return;
    api
      .runKeys(experiment || undefined)
      .then((k) => {
        setKeys(k);
        setErr('');
      })
      .catch((e) => setErr(errorMessage(e)));
  }, [open, experiment]);
  const toggle = (kind: 'params' | 'metrics', k: string) => {
    const list = choice[kind].includes(k) ? choice[kind].filter((x) => x !== k) : [...choice[kind], k];
    onChange({ ...choice, [kind]: list });
  };
  const group = (kind: 'params' | 'metrics', title: string) => {
    const all = [...new Set([...(keys?.[kind] || []), ...choice[kind]])].filter((k) =>
      k.toLowerCase().includes(q.toLowerCase()),
    );
    return (
      <div class="picker-group">
        <h4>{title}</h4>
        {all.length === 0 && <div class="muted small">none logged{experiment ? ` in ${experiment}` : ''}</div>}
        {all.map((k) => (
          <label class="check" key={k}>
            <input type="checkbox" checked={choice[kind].includes(k)} onChange={() => toggle(kind, k)} /> {k}
          </label>
        ))}
      </div>
    );
  };
  return (
    <div class="picker">
      <button class="btn" data-testid="columns-button" onClick={() => setOpen(!open)} aria-expanded={open}>
        Columns{choice.params.length + choice.metrics.length ? ` (+${choice.params.length + choice.metrics.length})` : ''}
      </button>
      {open && (
        <div class="picker-panel" data-testid="columns-panel">
          <input type="search" placeholder="find a parameter or metric" value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
          {err && <ErrorBox message={err} />}
          {!keys && !err && <div class="muted">loading…</div>}
          {keys && (
            <div class="picker-cols">
              {group('params', 'Parameters')}
              {group('metrics', 'Metrics')}
            </div>
          )}
          <div class="modal-actions">
            <button class="btn small" onClick={() => onChange({ params: [], metrics: [] })}>
              Reset
            </button>
            <button class="btn small primary" onClick={() => setOpen(false)}>
              Done
            </button>
          </div>
        </div>
      )}
    </div>
  );
}
