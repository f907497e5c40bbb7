// Run details, driven by the run stream (GET /runs/{id}/stream): status, history, metrics and logs.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, errorMessage, openStream, type StreamHandle } from '../api';
import { Chart } from '../components/Chart';
import { Code, ConfirmDialog, Empty, ErrorBox, KVTable, Loading, StatusBadge, renderValue } from '../components/common';
import { formatBytes, formatDuration, formatMetric, formatTime, runDuration } from '../lib/format';
import { LogBuffer, tail } from '../lib/logbuffer';
import { buildTree, decodeText, parseManifest, type ManifestEntry, type TreeDir } from '../lib/manifest';
import { href, runHref } from '../lib/router';
import { valueViews, type ValueView } from '../lib/runvalues';
import { SeriesStore } from '../lib/series';
import { isActive, isTerminal, statusClass } from '../lib/status';
import { replaceHash, useNow, useWorkspaceChanged } from '../hooks';
import type { Artifact, LogStreamEvent, PointsEvent, Run, RunOutput, SeriesEvent, StatusEvent } from '../types';

const TABS = ['overview', 'logs', 'metrics', 'snapshot', 'outputs', 'children'] as const;
type Tab = (typeof TABS)[number];
const MAX_POINTS = 2000;
const LOG_DOM_LINES = 5000;

export function RunPage({ id, query }: { id: string; query: URLSearchParams }) {
  const tabQ = query.get('tab') as Tab;
  const tab: Tab = TABS.includes(tabQ) ? tabQ : 'overview';
  const store = useRef(new SeriesStore());
  const logs = useRef(new LogBuffer());
  const [run, setRun] = useState<Run | null>(null);
  const [history, setHistory] = useState<StatusEvent[]>([]);
  const [, setTick] = useState(0);
  const [fatal, setFatal] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const [ended, setEnded] = useState(false);
  const [fallback, setFallback] = useState(false);
  const [children, setChildren] = useState<Run[] | null>(null);

  // Re-render at most once per frame however many events arrive.
  const pending = useRef(false);
  const bump = () => {
    if (pending.current) return;
    pending.current = true;
    requestAnimationFrame(() => {
      pending.current = false;
      setTick((t) => t + 1);
    });
  };

  useEffect(() => {
    let h: StreamHandle | null = openStream(`/runs/${encodeURIComponent(id)}/stream`, { max_points: MAX_POINTS }, {
      stopOn: ['end'],
      onStatus: setProblem,
      onEvent(ev) {
        let d: any;
        try {
          d = JSON.parse(ev.data);
        } catch {
          return;
        }
        switch (ev.event) {
          case 'run':
            setRun(d as Run);
            if (Array.isArray(d.history)) setHistory(d.history);
            break;
          case 'series':
            store.current.applySeries(d as SeriesEvent);
            bump();
            break;
          case 'points':
            store.current.applyPoints(d as PointsEvent);
            bump();
            break;
          case 'log':
            if (logs.current.append(d as LogStreamEvent)) bump();
            break;
          case 'end':
            setEnded(true);
            if (d?.status) setRun((r) => (r ? { ...r, status: d.status } : r));
            break;
        }
      },
      onFatal(err) {
        // No stream route (older server) but the run exists: load once without live updates.
        api
          .run(id)
          .then(() => setFallback(true))
          .catch((e) => setFatal(errorMessage(e) || err.message));
      },
    });
    return () => {
      h?.close();
      h = null;
    };
  }, [id]);

  useEffect(() => {
    if (!fallback) return;
    loadOnce(id, store.current, logs.current)
      .then(({ run, history }) => {
        setRun(run);
        setHistory(history);
        setEnded(isTerminal(run.status));
        bump();
      })
      .catch((e) => setFatal(errorMessage(e)));
  }, [fallback]);

  const loadChildren = () =>
    api
      .runs({ parent: id, limit: 1000 })
      .then((r) => setChildren(r.runs || []))
      .catch(() => setChildren((c) => c ?? []));
  useEffect(() => {
    loadChildren();
  }, [id]);
  useWorkspaceChanged(() => {
    if (tab === 'children' || (children && children.length > 0)) loadChildren();
  });

  if (fatal)
    return (
      <div class="page">
        <ErrorBox message={fatal} />
        <p>
          <a href="#/runs">All runs</a>
        </p>
      </div>
    );
  if (!run) return <div class="page"><Loading what="Connecting to the run" /></div>;

  const setTab = (t: Tab) => replaceHash(href.run(id, t === 'overview' ? undefined : t));
  return (
    <div class="page run-page">
      <RunHeader run={run} ended={ended} />
      {problem && !ended && <div class="notice">Live updates paused: {problem}</div>}
      {fallback && <div class="notice">This server has no live run stream; showing a snapshot. Reload for newer data.</div>}
      <div class="tabs" role="tablist">
        {TABS.map((t) => (
          <button
            key={t}
            role="tab"
            aria-selected={tab === t}
            class={tab === t ? 'active' : ''}
            data-testid={`tab-${t}`}
            onClick={() => setTab(t)}
          >
            {t === 'children' ? `Child runs${children?.length ? ` (${children.length})` : ''}` : t[0].toUpperCase() + t.slice(1)}
          </button>
        ))}
      </div>
      <div class="tab-body">
        {tab === 'overview' && <Overview run={run} history={history} />}
        {tab === 'logs' && <LogsTab run={run} logs={logs.current} version={logs.current.version} rerender={bump} />}
        {tab === 'metrics' && <MetricsTab store={store.current} version={store.current.version} run={run} />}
        {tab === 'snapshot' && <SnapshotTab run={run} />}
        {tab === 'outputs' && <OutputsTab run={run} ended={ended} />}
        {tab === 'children' && <ChildrenTab runs={children} />}
      </div>
    </div>
  );
}

async function loadOnce(id: string, store: SeriesStore, logs: LogBuffer): Promise<{ run: Run; history: StatusEvent[] }> {
  const run = await api.run(id);
  const history = await api.runHistory(id).then((h) => h.history || []).catch(() => []);
  for (const key of Object.keys(run.metrics || {})) {
    const m = await api.metrics(id, key, MAX_POINTS).catch(() => null);
    if (m) store.applySeries({ key, points: m.metrics?.[key] || [], total: m.downsampled?.[key]?.points, downsampled: !!m.downsampled?.[key] });
  }
  const ranks = Math.max(1, run.node_count || 1);
  for (let rank = 0; rank < ranks; rank++) {
    let offset = 0;
    for (let i = 0; i < 8; i++) {
      const r = await api.logs(id, rank, offset).catch(() => null);
      if (!r || r.bytes.length === 0) break;
      logs.append({ rank, offset, next_offset: r.next, text: new TextDecoder().decode(r.bytes) });
      offset = r.next;
    }
  }
  return { run, history };
}

function RunHeader({ run, ended }: { run: Run; ended: boolean }) {
  const [confirm, setConfirm] = useState(false);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState('');
  const now = useNow(1000);
  const active = isActive(run.status) && !ended;
  return (
    <div class="page-head run-head">
      <div class="title-block">
        <h1 class="mono">{run.id}</h1>
        <div class="meta">
          <span data-testid="run-status" class={`badge ${statusClass(run.status)}`}>
            {run.status}
          </span>
          <span>
            experiment <a href={href.experiment(run.experiment)}>{run.experiment}</a>
          </span>
          <span>
            on <a href={href.compute(run.target)}>{run.target}</a>
          </span>
          {run.started_at ? <span>{runDuration(run.started_at, run.ended_at || 0, now)}</span> : null}
          {run.parent_id && (
            <span>
              trial of <a href={href.sweep(run.parent_id)}>{run.parent_id}</a>
            </span>
          )}
          {run.kind === 'sweep' && <a href={href.sweep(run.id)}>open the sweep page</a>}
          {run.cancel_requested && active && <span class="muted">cancel requested…</span>}
        </div>
      </div>
      <span class="spacer" />
      {active && (
        <button class="btn danger" data-testid="cancel-button" onClick={() => setConfirm(true)}>
          Cancel run
        </button>
      )}
      {err && !confirm && <ErrorBox message={err} />}
      {confirm && (
        <ConfirmDialog
          title={`Cancel run ${run.id}?`}
          yesLabel="Cancel the run"
          danger
          busy={busy}
          error={err}
          onNo={() => setConfirm(false)}
          onYes={() => {
            setBusy(true);
            (run.kind === 'sweep' ? api.cancelSweep(run.id) : api.cancelRun(run.id))
              .then(() => {
                setErr('');
                setConfirm(false);
              })
              .catch((e) => setErr(errorMessage(e)))
              .finally(() => setBusy(false));
          }}
        >
          <p>The script is stopped; the run ends Canceled. This cannot be undone.</p>
        </ConfirmDialog>
      )}
    </div>
  );
}

function Overview({ run, history }: { run: Run; history: StatusEvent[] }) {
  const now = useNow(1000);
  const metrics = Object.entries(run.metrics || {});
  const config: Record<string, unknown> = {
    script: run.script,
    arguments: (run.arguments || []).join(' ') || '—',
    python: run.python,
    kind: run.kind,
    nodes: run.node_count,
    gpus: run.gpus,
    gpu_ids: run.gpu_ids,
    attempt: run.attempt,
    submitted_by: run.submitted_by || undefined,
    max_run_duration: run.max_run_duration_seconds ? formatDuration(run.max_run_duration_seconds) : undefined,
    requeue_on_node_loss: run.requeue_on_node_loss,
    snapshot: run.snapshot_id,
    created: formatTime(run.created_at),
  };
  for (const k of Object.keys(config)) if (config[k] === undefined || config[k] === null) delete config[k];
  return (
    <div class="overview">
      <section class="card">
        <h3>Status</h3>
        {run.status === 'Queued' && run.queue_reason && (
          <div class="notice" data-testid="queue-reason">
            Waiting: {run.queue_reason}
          </div>
        )}
        {run.error && (
          <div class="run-error">
            <div>
              <b>Error</b>
              {run.exit_code !== null && run.exit_code !== undefined && <span class="muted"> (exit code {run.exit_code})</span>}
            </div>
            <pre>{run.error}</pre>
          </div>
        )}
        {!run.error && run.exit_code !== null && run.exit_code !== undefined && isTerminal(run.status) && (
          <div>exit code {run.exit_code}</div>
        )}
        <Timeline history={history} run={run} now={now} />
      </section>
      <section class="card">
        <h3>Parameters</h3>
        {Object.keys(run.params || {}).length ? <KVTable data={run.params || {}} testid="params-table" /> : <div class="muted">No parameters parsed from the arguments.</div>}
        <h3>Tags</h3>
        {Object.keys(run.tags || {}).length ? <KVTable data={run.tags || {}} /> : <div class="muted">No tags.</div>}
        <h3>Git</h3>
        {run.git ? (
          <KVTable
            data={{
              remote: run.git.remote_url || '—',
              branch: run.git.branch,
              commit: run.git.commit,
              dirty: run.git.dirty ? 'yes (uncommitted changes were submitted)' : 'no',
            }}
          />
        ) : (
          <div class="muted">The source was not in a git work tree.</div>
        )}
      </section>
      <section class="card">
        <h3>Configuration</h3>
        <KVTable data={config} />
        {run.environment_variables && Object.keys(run.environment_variables).length > 0 && (
          <>
            <h4>Environment variables</h4>
            <KVTable data={run.environment_variables} />
          </>
        )}
        {run.environment && (
          <>
            <h4>Environment</h4>
            {renderValue(run.environment)}
          </>
        )}
        {run.docker && (
          <>
            <h4>Docker</h4>
            {renderValue(run.docker)}
          </>
        )}
      </section>
      {((run.inputs || []).length > 0 || (run.outputs || []).length > 0) && <DataSection run={run} />}
      {metrics.length > 0 && (
        <section class="card">
          <h3>Metrics</h3>
          <table class="grid">
            <thead>
              <tr>
                <th>key</th>
                <th>last</th>
                <th>min</th>
                <th>max</th>
                <th>count</th>
                <th>last step</th>
              </tr>
            </thead>
            <tbody>
              {metrics.map(([k, m]) => (
                <tr key={k}>
                  <td>{k}</td>
                  <td>{formatMetric(m.last)}</td>
                  <td>{formatMetric(m.min)}</td>
                  <td>{formatMetric(m.max)}</td>
                  <td>{m.count ?? ''}</td>
                  <td>{m.last_step ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
    </div>
  );
}

/** The run's dataset inputs and outputs (the run's `inputs`/`outputs`), linked to their pages. */
function DataSection({ run }: { run: Run }) {
  const inputs = run.inputs || [];
  const outputs = run.outputs || [];
  return (
    <section class="card scroll-x span-all" data-testid="run-data">
      <h3>Inputs</h3>
      {inputs.length === 0 ? (
        <div class="muted">No dataset inputs.</div>
      ) : (
        <table class="grid" data-testid="run-inputs">
          <thead>
            <tr>
              <th>name</th>
              <th>mode</th>
              <th>dataset</th>
              <th>kind</th>
              <th>datastore</th>
            </tr>
          </thead>
          <tbody>
            {inputs.map((i) => {
              const d = i.dataset || {};
              return (
                <tr key={i.name} data-testid="run-input" data-name={i.name}>
                  <td class="mono">{i.name}</td>
                  <td>{i.mode || 'mount'}</td>
                  <td>
                    {d.name ? (
                      <a href={href.datasetVersion(d.name, d.version ?? 'latest')} data-testid="run-input-dataset">
                        {d.name}:{d.version ?? 'latest'}
                      </a>
                    ) : (
                      <span class="muted" title={d.id}>
                        not registered{d.id ? ` (${d.id.slice(0, 12)})` : ''}
                      </span>
                    )}
                  </td>
                  <td>{d.kind || 'file'}</td>
                  <td>{d.datastore ? <a href={href.datastore(d.datastore)}>{d.datastore}</a> : '—'}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <h3>Outputs</h3>
      {outputs.length === 0 ? (
        <div class="muted">No dataset outputs.</div>
      ) : (
        <table class="grid" data-testid="run-outputs">
          <thead>
            <tr>
              <th>name</th>
              <th>datastore path</th>
              <th>registered as</th>
            </tr>
          </thead>
          <tbody>
            {outputs.map((o) => {
              const store = o.datastore || 'workspaceblobstore';
              return (
                <tr key={o.name} data-testid="run-output" data-name={o.name}>
                  <td class="mono">{o.name}</td>
                  <td class="mono">
                    <a href={href.datastore(store, o.path || '')}>
                      {store}/{o.path || ''}
                    </a>
                  </td>
                  <td>{o.register_on_complete?.name ? <RegisteredOutput run={run} out={o} /> : <span class="muted">—</span>}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

/**
 * The dataset version a completed run's output became: the newest versions of the named
 * dataset made since the run started, checked against their lineage (a few requests, only for
 * completed runs).
 */
function RegisteredOutput({ run, out }: { run: Run; out: RunOutput }) {
  const name = out.register_on_complete?.name || '';
  const [version, setVersion] = useState<number | null>(null);
  const done = run.status === 'Completed';
  useEffect(() => {
    if (!done) return;
    const ctrl = new AbortController();
    const since = (run.started_at || run.created_at) - 1;
    (async () => {
      const list = await api.datasetVersions(name, ctrl.signal);
      const recent = (list.versions || []).filter((v) => v.created_at >= since).sort((a, b) => b.version - a.version);
      for (const v of recent.slice(0, 5)) {
        const full = await api.dataset(name, v.version, ctrl.signal);
        if ((full.runs || []).some((u) => u.run_id === run.id && u.direction === 'output' && (!u.as_name || u.as_name === out.name))) {
          setVersion(v.version);
          return;
        }
      }
    })().catch(() => {
      /* the name links to the dataset still */
    });
    return () => ctrl.abort();
  }, [run.id, done, name]);
  if (version !== null)
    return (
      <a href={href.datasetVersion(name, version)} data-testid="run-output-dataset">
        {name}:{version}
      </a>
    );
  return (
    <span>
      <a href={href.dataset(name)} data-testid="run-output-dataset">
        {name}
      </a>
      {!isTerminal(run.status) && <span class="muted"> (registered when the run completes)</span>}
    </span>
  );
}

function Timeline({ history, run, now }: { history: StatusEvent[]; run: Run; now: number }) {
  const items = history.length ? history : [{ status: run.status, time: run.created_at, reason: '' }];
  return (
    <ol class="timeline" data-testid="status-timeline">
      {items.map((h, i) => {
        const next = items[i + 1];
        const end = next ? next.time : isTerminal(h.status) ? 0 : now;
        return (
          <li key={i}>
            <StatusBadge status={h.status} />
            <span class="t-time">{formatTime(h.time)}</span>
            {end > 0 && <span class="t-dur">{formatDuration(end - h.time)}{!next && ' so far'}</span>}
            {h.reason && <span class="t-reason">{h.reason}</span>}
          </li>
        );
      })}
    </ol>
  );
}

function LogsTab({ run, logs, version, rerender }: { run: Run; logs: LogBuffer; version: number; rerender: () => void }) {
  const ranks = logs.rankList();
  // Ranks are processes: nodes × processes per node (each has its own log stream).
  const world = (run.node_count || 1) * (run.process_count_per_node || 1);
  const multi = world > 1 || ranks.length > 1;
  const [rank, setRank] = useState<number | 'all'>(multi ? 'all' : 0);
  const [filter, setFilter] = useState('');
  const [follow, setFollow] = useState(true);
  const [loadErr, setLoadErr] = useState('');
  const [loading, setLoading] = useState(false);
  const pre = useRef<HTMLPreElement>(null);
  const effRank = multi ? rank : ranks.length === 1 ? ranks[0] : 0;
  const all = useMemo(() => logs.view(effRank, filter), [version, effRank, filter]);
  const { lines, hidden } = tail(all, LOG_DOM_LINES);
  const text = lines.join('\n');

  useEffect(() => {
    const el = pre.current;
    if (el && follow) {
      el.scrollTop = el.scrollHeight;
    }
  }, [text, follow]);

  const rankOptions = [...new Set([...ranks, ...Array.from({ length: world }, (_, i) => i)])].sort((a, b) => a - b);
  const truncatedRanks = (effRank === 'all' ? ranks : [effRank]).filter((r) => logs.startOffset(r) > 0);

  const loadEarlier = async (r: number) => {
    setLoading(true);
    try {
      const start = logs.startOffset(r);
      const from = Math.max(0, start - 256 * 1024);
      const res = await api.logs(run.id, r, from);
      const text = new TextDecoder().decode(res.bytes.subarray(0, start - from));
      logs.prepend(r, from, text);
      setLoadErr('');
      rerender();
    } catch (e) {
      setLoadErr(errorMessage(e));
    } finally {
      setLoading(false);
    }
  };

  return (
    <div class="logs">
      <div class="toolbar">
        {multi && (
          <label class="filter">
            <span>Rank</span>
            <select
              data-testid="log-rank"
              value={String(rank)}
              onChange={(e) => {
                const v = (e.target as HTMLSelectElement).value;
                setRank(v === 'all' ? 'all' : Number(v));
              }}
            >
              <option value="all">all ranks</option>
              {rankOptions.map((r) => (
                <option key={r} value={String(r)}>
                  rank {r}
                </option>
              ))}
            </select>
          </label>
        )}
        <label class="filter grow">
          <span>Filter</span>
          <input
            type="search"
            data-testid="log-filter"
            placeholder="show only lines containing…"
            value={filter}
            onInput={(e) => setFilter((e.target as HTMLInputElement).value)}
          />
        </label>
        <label class="check">
          <input
            type="checkbox"
            data-testid="log-follow"
            checked={follow}
            onChange={(e) => setFollow((e.target as HTMLInputElement).checked)}
          />{' '}
          Follow
        </label>
        <span class="muted small">
          {all.length} line{all.length === 1 ? '' : 's'}
          {filter ? ' match' : ''}
        </span>
      </div>
      {truncatedRanks.map((r) => (
        <div class="notice" key={r}>
          Earlier output{effRank === 'all' ? ` of rank ${r}` : ''} was skipped ({formatBytes(logs.startOffset(r))}).{' '}
          <button class="btn small" data-testid="log-load-earlier" disabled={loading} onClick={() => loadEarlier(r)}>
            Load earlier
          </button>
        </div>
      ))}
      {loadErr && <ErrorBox message={loadErr} />}
      {(hidden > 0 || logs.dropped > 0) && (
        <div class="notice small">
          {hidden > 0 && `${hidden} earlier lines are not shown (the view keeps the last ${LOG_DOM_LINES}; use the filter to find older lines). `}
          {logs.dropped > 0 && `${logs.dropped} older lines were dropped from memory.`}
        </div>
      )}
      <pre
        class="log-view"
        data-testid="log-view"
        ref={pre}
        onScroll={(e) => {
          const el = e.currentTarget as HTMLPreElement;
          const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 8;
          if (!atBottom && follow) setFollow(false);
          else if (atBottom && !follow) setFollow(true);
        }}
      >
        {text}
      </pre>
      {all.length === 0 && (
        <Empty>
          {filter
            ? 'No line matches the filter.'
            : isTerminal(run.status)
              ? 'This run wrote no output.'
              : 'No output yet; lines appear here as the script prints them.'}
        </Empty>
      )}
    </div>
  );
}

function MetricsTab({ store, version, run }: { store: SeriesStore; version: number; run: Run }) {
  const keys = useMemo(() => store.keys(), [version]);
  const values = useRunValues(run, version);
  if (keys.length === 0) {
    if (values.length > 0) return <ValuesSection run={run} views={values} />;
    return (
      <Empty>
        No metrics yet. Log some from the script with <Code>ferry.log_metric("loss", value, step=step)</Code>
        {isTerminal(run.status) ? '.' : '; charts appear here live.'}
      </Empty>
    );
  }
  return (
    <>
    {values.length > 0 && <ValuesSection run={run} views={values} />}
    <div class="charts">
      {keys.map((k) => {
        const s = store.get(k)!;
        return (
          <section class="card chart-card" key={k}>
            <h3>{k}</h3>
            <Chart
              testid="metric-chart"
              markKey={k}
              rev={s.rev}
              data={[s.steps, s.values]}
              series={[{ label: k }]}
            />
            <div class="muted small">
              {s.downsampled && <span>downsampled from {s.total} points to {s.steps.length}. </span>}
              {s.nonFinite > 0 && <span>{s.nonFinite} nan/inf values are not plotted. </span>}
              Drag to zoom, double-click to reset.
            </div>
          </section>
        );
      })}
    </div>
    </>
  );
}

// The run's non-numeric metrics: read again as new points arrive (at most every 5 s) and
// when the run's status changes (its last values, its outputs' images).
function useRunValues(run: Run, version: number): ValueView[] {
  const [views, setViews] = useState<ValueView[]>([]);
  const slot = version === 0 ? 0 : Math.floor(Date.now() / 5000);
  useEffect(() => {
    const ctl = new AbortController();
    api
      .values(run.id, ctl.signal)
      .then((r) => setViews(valueViews(r.values || {})))
      .catch(() => {});
    return () => ctl.abort();
  }, [run.id, run.status, slot]);
  return views;
}

function ValuesSection({ run, views }: { run: Run; views: ValueView[] }) {
  const texts = views.filter((v) => v.kind === 'text');
  return (
    <div class="run-values" data-testid="run-values">
      {texts.length > 0 && (
        <section class="card">
          <h3>Values</h3>
          <table class="kv" data-testid="value-strings">
            <tbody>
              {texts.map((v) => (
                <tr key={v.key}>
                  <th>{v.key}</th>
                  <td>{v.values.length === 1 ? v.values[0] : v.values.join(', ')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
      {views.map((v) => {
        if (v.kind === 'table')
          return (
            <section class="card" key={v.key}>
              <h3>{v.title}</h3>
              <div class="table-scroll">
                <table class="grid" data-testid="value-table">
                  <thead>
                    <tr>
                      {v.table.columns.map((c) => (
                        <th key={c}>{c}</th>
                      ))}
                    </tr>
                  </thead>
                  <tbody>
                    {v.table.rows.map((r, i) => (
                      <tr key={i}>
                        {r.map((cell, j) => (
                          <td key={j}>{cell}</td>
                        ))}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </section>
          );
        if (v.kind === 'image')
          return (
            <section class="card" key={v.key}>
              <h3>{v.key}</h3>
              {v.paths.map((p) => (
                <RunImage key={p} run={run} path={p} />
              ))}
            </section>
          );
        if (v.kind === 'json')
          return (
            <section class="card" key={v.key}>
              <h3>
                {v.key} <span class="muted small">({v.type})</span>
              </h3>
              <pre class="small">{v.text}</pre>
            </section>
          );
        return null;
      })}
    </div>
  );
}

// An image the run logged: shown through a short-lived link to the run's file.
function RunImage({ run, path }: { run: Run; path: string }) {
  const [url, setUrl] = useState('');
  const [err, setErr] = useState('');
  useEffect(() => {
    api
      .artifactLink(run.id, path)
      .then((r) => setUrl(r.url))
      .catch((e) =>
        setErr(isTerminal(run.status) ? errorMessage(e) : 'stored with the run\'s outputs when its script ends'),
      );
  }, [run.id, run.status, path]);
  if (err) return <p class="muted small">{path}: {err}</p>;
  if (!url) return <p class="muted small">{path}</p>;
  return <img class="run-image" data-testid="value-image" src={url} alt={path} title={path} />;
}

function SnapshotTab({ run }: { run: Run }) {
  const [tree, setTree] = useState<TreeDir | null>(null);
  const [err, setErr] = useState('');
  const [open, setOpen] = useState<Set<string>>(new Set(['']));
  const [file, setFile] = useState<ManifestEntry | null>(null);
  const [content, setContent] = useState<{ text: string | null; size: number; truncated: boolean } | null>(null);
  const [fileErr, setFileErr] = useState('');
  useEffect(() => {
    if (!run.snapshot_id) return;
    api
      .blob(run.snapshot_id)
      .then((b) => {
        const t = buildTree(parseManifest(new TextDecoder().decode(b)));
        // Small snapshots open fully; large ones show the top level.
        if (t.count <= 300) {
          const all = new Set<string>(['']);
          const walk = (d: TreeDir) =>
            d.dirs.forEach((x) => {
              all.add(x.path);
              walk(x);
            });
          walk(t);
          setOpen(all);
        }
        setTree(t);
      })
      .catch((e) => setErr(errorMessage(e)));
  }, [run.snapshot_id]);
  useEffect(() => {
    if (!file) return;
    setContent(null);
    setFileErr('');
    if (file.size > 64 * 1024 * 1024) {
      setContent({ text: null, size: file.size, truncated: true });
      return;
    }
    const ctrl = new AbortController();
    api
      .blob(file.hash, ctrl.signal)
      .then((b) => {
        const cap = 1024 * 1024;
        const truncated = b.length > cap;
        setContent({ text: decodeText(truncated ? b.subarray(0, cap) : b), size: b.length, truncated });
      })
      .catch((e) => (e as Error).name !== 'AbortError' && setFileErr(errorMessage(e)));
    return () => ctrl.abort();
  }, [file]);
  if (!run.snapshot_id) return <Empty>This run has no code snapshot.</Empty>;
  if (err) return <ErrorBox message={err} />;
  if (!tree) return <Loading what="Loading the snapshot" />;
  if (tree.count === 0) return <Empty>The snapshot is empty.</Empty>;
  const renderDir = (d: TreeDir, depth: number): any[] => {
    const out: any[] = [];
    for (const sub of d.dirs) {
      const isOpen = open.has(sub.path);
      out.push(
        <li key={'d' + sub.path}>
          <button
            class="tree-dir"
            style={{ paddingLeft: depth * 14 + 4 }}
            onClick={() => {
              const s = new Set(open);
              isOpen ? s.delete(sub.path) : s.add(sub.path);
              setOpen(s);
            }}
          >
            {isOpen ? '▾' : '▸'} {sub.name}/ <span class="muted small">{sub.count} files</span>
          </button>
        </li>,
      );
      if (isOpen) out.push(...renderDir(sub, depth + 1));
    }
    for (const f of d.files) {
      out.push(
        <li key={'f' + f.path}>
          <button
            class={`tree-file ${file?.path === f.path ? 'active' : ''}`}
            style={{ paddingLeft: depth * 14 + 18 }}
            data-testid="snapshot-file"
            data-path={f.path}
            onClick={() => setFile(f)}
          >
            {f.name} <span class="muted small">{formatBytes(f.size)}</span>
          </button>
        </li>,
      );
    }
    return out;
  };
  return (
    <div class="snapshot">
      <div class="tree card">
        <div class="muted small">
          {tree.count} files, {formatBytes(tree.size)}
        </div>
        <ul>{renderDir(tree, 0)}</ul>
      </div>
      <div class="file card">
        {!file && <div class="muted">Choose a file on the left.</div>}
        {file && (
          <>
            <div class="file-head">
              <span class="mono">{file.path}</span> <span class="muted small">{formatBytes(file.size)}</span>
            </div>
            {fileErr && <ErrorBox message={fileErr} />}
            {!content && !fileErr && <Loading />}
            {content && (
              <div data-testid="file-view" class="file-view">
                {content.text === null ? (
                  <div class="muted">binary file, {content.size} bytes</div>
                ) : (
                  <pre>{content.text}</pre>
                )}
                {content.truncated && content.text !== null && <div class="notice small">Showing the first 1 MiB.</div>}
              </div>
            )}
          </>
        )}
      </div>
    </div>
  );
}

function OutputsTab({ run, ended }: { run: Run; ended: boolean }) {
  const [list, setList] = useState<Artifact[] | null>(null);
  const [err, setErr] = useState('');
  const [linkErr, setLinkErr] = useState('');
  const load = () =>
    api
      .artifacts(run.id)
      .then((r) => {
        setList(r.artifacts || []);
        setErr('');
      })
      .catch((e) => setErr(errorMessage(e)));
  useEffect(() => {
    load();
  }, [run.id, ended]);
  const download = async (path: string) => {
    try {
      const { url } = await api.artifactLink(run.id, path);
      const a = document.createElement('a');
      a.href = url;
      a.download = path.split('/').pop() || 'download';
      a.rel = 'noopener';
      document.body.appendChild(a);
      a.click();
      a.remove();
      setLinkErr('');
    } catch (e) {
      setLinkErr(errorMessage(e));
    }
  };
  if (err) return <ErrorBox message={err} onRetry={load} />;
  if (!list) return <Loading />;
  if (list.length === 0)
    return (
      <Empty>
        No outputs{isTerminal(run.status) ? '' : ' yet'}. Files the script writes under <Code>outputs/</Code> are uploaded when it ends.
      </Empty>
    );
  const total = list.reduce((a, b) => a + (b.size || 0), 0);
  return (
    <div class="card">
      {linkErr && <ErrorBox message={linkErr} />}
      <div class="muted small">
        {list.length} files, {formatBytes(total)}
      </div>
      <table class="grid">
        <thead>
          <tr>
            <th>path</th>
            <th class="num">size</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          {list.map((a) => (
            <tr key={a.path}>
              <td class="mono">{a.path}</td>
              <td class="num">{formatBytes(a.size)}</td>
              <td>
                <a
                  href={`#download:${a.path}`}
                  data-testid="artifact-link"
                  data-path={a.path}
                  onClick={(e) => {
                    e.preventDefault();
                    download(a.path);
                  }}
                >
                  Download
                </a>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ChildrenTab({ runs }: { runs: Run[] | null }) {
  const now = useNow(1000);
  if (!runs) return <Loading />;
  if (runs.length === 0) return <Empty>This run has no child runs (a sweep's trials are its child runs).</Empty>;
  return (
    <div class="card scroll-x">
      <table class="grid" data-testid="children-table">
        <thead>
          <tr>
            <th>run</th>
            <th>status</th>
            <th>target</th>
            <th>created</th>
            <th>duration</th>
          </tr>
        </thead>
        <tbody>
          {runs.map((r) => (
            <tr key={r.id} data-testid="child-row" data-run-id={r.id}>
              <td>
                <a class="mono" href={runHref(r)}>
                  {r.id}
                </a>
              </td>
              <td>
                <StatusBadge status={r.status} />
              </td>
              <td>{r.target}</td>
              <td>{formatTime(r.created_at)}</td>
              <td>{runDuration(r.started_at || 0, r.ended_at || 0, now)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
