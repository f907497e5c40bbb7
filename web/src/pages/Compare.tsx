// Overlay one metric of several runs in one chart.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, errorMessage } from '../api';
import { Chart, PALETTE } from '../components/Chart';
import { Empty, ErrorBox, Loading, StatusBadge } from '../components/common';
import { formatMetric } from '../lib/format';
import { href } from '../lib/router';
import { alignSeries, fromPoints } from '../lib/series';
import { replaceHash, useWorkspaceChanged } from '../hooks';
import type { Run } from '../types';

export function ComparePage({ query }: { query: URLSearchParams }) {
  const ids = useMemo(
    () => [...new Set((query.get('runs') || '').split(',').map((s) => s.trim()).filter(Boolean))],
    [query.get('runs')],
  );
  const metric = query.get('metric') || '';
  const [runs, setRuns] = useState<Record<string, Run | { error: string }>>({});
  const [series, setSeries] = useState<Record<string, { steps: number[]; values: (number | null)[]; note: string } | { error: string }>>({});
  const [loading, setLoading] = useState(false);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    Promise.all(
      ids.map((id) =>
        api
          .run(id)
          .then((r) => [id, r] as const)
          .catch((e) => [id, { error: errorMessage(e) }] as const),
      ),
    ).then((list) => setRuns(Object.fromEntries(list)));
  }, [ids.join(','), tick]);

  const keys = useMemo(() => {
    const s = new Set<string>();
    for (const r of Object.values(runs)) if ('metrics' in r && r.metrics) Object.keys(r.metrics).forEach((k) => s.add(k));
    return [...s].sort();
  }, [runs]);

  // Default to the first key once keys are known.
  useEffect(() => {
    if (!metric && keys.length) replaceHash(href.compare(ids, keys[0]));
  }, [metric, keys.join(',')]);

  useEffect(() => {
    if (!metric) return;
    const ctrl = new AbortController();
    setLoading(true);
    Promise.all(
      ids.map((id) =>
        api
          .metrics(id, metric, 2000, ctrl.signal)
          .then((m) => {
            const pts = m.metrics?.[metric] || [];
            const s = fromPoints(pts);
            const ds = m.downsampled?.[metric];
            const note = ds && ds.points > ds.returned ? `downsampled from ${ds.points} points` : '';
            return [id, { steps: s.steps, values: s.values, note }] as const;
          })
          .catch((e) => [id, { error: errorMessage(e) }] as const),
      ),
    ).then((list) => {
      if (ctrl.signal.aborted) return;
      setSeries(Object.fromEntries(list));
      setLoading(false);
    });
    return () => ctrl.abort();
  }, [ids.join(','), metric, tick]);

  useWorkspaceChanged(() => {
    const active = Object.values(runs).some((r) => 'status' in r && !['Completed', 'Failed', 'Canceled'].includes(r.status));
    if (active) setTick((t) => t + 1);
  }, 1000);

  if (ids.length === 0) {
    return (
      <div class="page">
        <h1>Compare runs</h1>
        <Empty>
          Choose runs with the checkboxes on the <a href="#/runs">runs page</a> and press Compare.
        </Empty>
      </div>
    );
  }
  const plotted = ids.filter((id) => series[id] && 'steps' in series[id] && (series[id] as any).steps.length > 0);
  const data = alignSeries(plotted.map((id) => series[id] as { steps: number[]; values: (number | null)[] }));
  return (
    <div class="page">
      <div class="page-head">
        <h1>Compare {ids.length} runs</h1>
        <span class="spacer" />
        <label class="filter">
          <span>Metric</span>
          <select
            data-testid="compare-metric"
            value={metric}
            onChange={(e) => replaceHash(href.compare(ids, (e.target as HTMLSelectElement).value))}
          >
            {!keys.includes(metric) && <option value={metric}>{metric || '—'}</option>}
            {keys.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        </label>
      </div>
      {Object.keys(runs).length > 0 && keys.length === 0 && <Empty>None of these runs has logged a metric yet.</Empty>}
      <section class="card">
        {loading && plotted.length === 0 && <Loading />}
        {metric && (
          <Chart
            testid="compare-chart"
            attrs={{ 'data-series': plotted.length, 'data-metric': metric }}
            data={data}
            series={plotted.map((id, i) => ({ label: id, color: PALETTE[i % PALETTE.length] }))}
            height={360}
          />
        )}
      </section>
      <section class="card scroll-x">
        <table class="grid">
          <thead>
            <tr>
              <th></th>
              <th>run</th>
              <th>status</th>
              <th>experiment</th>
              <th>{metric} last</th>
              <th>min</th>
              <th>max</th>
              <th>note</th>
            </tr>
          </thead>
          <tbody>
            {ids.map((id) => {
              const r = runs[id];
              const s = series[id];
              const i = plotted.indexOf(id);
              const m = r && 'metrics' in r ? r.metrics?.[metric] : undefined;
              return (
                <tr key={id}>
                  <td>{i >= 0 && <span class="swatch" style={{ background: PALETTE[i % PALETTE.length] }} />}</td>
                  <td>
                    <a class="mono" href={href.run(id)}>
                      {id}
                    </a>
                  </td>
                  <td>{r && 'status' in r ? <StatusBadge status={r.status} /> : ''}</td>
                  <td>{r && 'experiment' in r ? r.experiment : ''}</td>
                  <td>{formatMetric(m?.last)}</td>
                  <td>{formatMetric(m?.min)}</td>
                  <td>{formatMetric(m?.max)}</td>
                  <td class="small">
                    {r && 'error' in r && typeof r.error === 'string' && !('status' in r) ? (
                      <span class="text-bad">{r.error}</span>
                    ) : s && 'error' in s ? (
                      <span class="text-bad">{s.error}</span>
                    ) : s && 'note' in s ? (
                      s.steps.length === 0 ? `no ${metric} values` : s.note
                    ) : (
                      ''
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </section>
      {Object.values(runs).some((r) => 'error' in r && !('status' in r)) && (
        <ErrorBox message="Some runs could not be loaded; see the table." />
      )}
    </div>
  );
}
