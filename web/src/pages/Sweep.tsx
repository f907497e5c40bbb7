// A hyperparameter sweep: settings, progress, best trial, trials, metric chart, parallel coordinates.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, errorMessage } from '../api';
import { Chart, PALETTE } from '../components/Chart';
import { Code, ConfirmDialog, Empty, ErrorBox, Loading, StatusBadge } from '../components/common';
import { ParCoords } from '../components/ParCoords';
import { formatDuration, formatMetric, formatTime } from '../lib/format';
import { stoppedByPolicy } from '../lib/parcoords';
import { href } from '../lib/router';
import { alignSeries, fromPoints } from '../lib/series';
import { isActive, isTerminal } from '../lib/status';
import { useNow, useWorkspaceChanged } from '../hooks';
import type { Sweep, SweepTrial } from '../types';

const CHART_TRIALS = 50;

function rankTrials(trials: SweepTrial[], goal: string): SweepTrial[] {
  const max = String(goal).toLowerCase().startsWith('max');
  return [...trials].sort((a, b) => {
    const am = typeof a.metric === 'number' && isFinite(a.metric);
    const bm = typeof b.metric === 'number' && isFinite(b.metric);
    if (am !== bm) return am ? -1 : 1;
    if (!am) return (b.created_at || 0) - (a.created_at || 0);
    return max ? (b.metric as number) - (a.metric as number) : (a.metric as number) - (b.metric as number);
  });
}

export function SweepPage({ id }: { id: string }) {
  const [sw, setSw] = useState<Sweep | null>(null);
  const [err, setErr] = useState('');
  const [curves, setCurves] = useState<Record<string, { steps: number[]; values: (number | null)[] }>>({});
  const fetched = useRef(new Map<string, string>()); // trial id → "status/reports" when fetched
  const [confirm, setConfirm] = useState(false);
  const [cancelErr, setCancelErr] = useState('');
  const [busy, setBusy] = useState(false);
  const now = useNow(1000);

  const load = () =>
    api
      .sweep(id)
      .then((s) => {
        setSw(s);
        setErr('');
      })
      .catch((e) => setErr(errorMessage(e)));
  useEffect(() => {
    load();
  }, [id]);
  useWorkspaceChanged(load);

  const settings = sw?.sweep || {};
  const metricName = settings.primary_metric_name || '';
  const goal = settings.primary_metric_goal || 'Minimize';
  const ranked = useMemo(() => (sw ? rankTrials(sw.trials || [], goal) : []), [sw, goal]);
  const chartTrials = ranked.slice(0, CHART_TRIALS);

  // Each charted trial's primary metric (re-fetched when its status or report count changed).
  useEffect(() => {
    if (!metricName) return;
    const todo = chartTrials.filter((t) => fetched.current.get(t.id) !== `${t.status}/${t.reports ?? 0}`);
    if (todo.length === 0) return;
    let cancelled = false;
    (async () => {
      const out: Record<string, { steps: number[]; values: (number | null)[] }> = {};
      const queue = [...todo];
      const worker = async () => {
        for (let t = queue.shift(); t; t = queue.shift()) {
          try {
            const m = await api.metrics(t.id, metricName, 500);
            const s = fromPoints(m.metrics?.[metricName] || []);
            out[t.id] = { steps: s.steps, values: s.values };
            fetched.current.set(t.id, `${t.status}/${t.reports ?? 0}`);
          } catch {
            /* the trial table still shows it */
          }
        }
      };
      await Promise.all([worker(), worker(), worker(), worker(), worker(), worker()]);
      if (!cancelled) setCurves((c) => ({ ...c, ...out }));
    })();
    return () => {
      cancelled = true;
    };
  }, [sw, metricName]);

  if (err && !sw)
    return (
      <div class="page">
        <ErrorBox message={err} onRetry={load} />
        <p>
          <a href="#/runs">All runs</a>
        </p>
      </div>
    );
  if (!sw) return <div class="page"><Loading what="Loading the sweep" /></div>;

  const trials = sw.trials || [];
  const counts = sw.counts || {};
  const done = trials.filter((t) => isTerminal(t.status)).length;
  const paramNames = settings.parameters?.length
    ? settings.parameters.map((p) => p.name)
    : [...new Set(trials.flatMap((t) => Object.keys(t.parameters || {})))].sort();
  const plotted = chartTrials.filter((t) => curves[t.id] && curves[t.id].steps.length > 0);
  const data = alignSeries(plotted.map((t) => curves[t.id]));
  const best = sw.best;
  const active = isActive(sw.status);

  return (
    <div class="page sweep-page">
      <div class="page-head">
        <div class="title-block">
          <h1 class="mono">{sw.id}</h1>
          <div class="meta">
            <StatusBadge status={sw.status} testid="run-status" />
            <span>
              experiment <a href={href.experiment(sw.experiment)}>{sw.experiment}</a>
            </span>
            <span>
              on <a href={href.compute(sw.target)}>{sw.target}</a>
            </span>
            <a href={href.run(sw.id)}>sweep run details</a>
          </div>
        </div>
        <span class="spacer" />
        {active && (
          <button class="btn danger" data-testid="cancel-button" onClick={() => setConfirm(true)}>
            Cancel sweep
          </button>
        )}
      </div>
      {err && <ErrorBox message={err} onRetry={load} />}
      {confirm && (
        <ConfirmDialog
          title={`Cancel sweep ${sw.id}?`}
          yesLabel="Cancel the sweep"
          danger
          busy={busy}
          error={cancelErr}
          onNo={() => setConfirm(false)}
          onYes={() => {
            setBusy(true);
            api
              .cancelSweep(sw.id)
              .then(() => {
                setConfirm(false);
                load();
              })
              .catch((e) => setCancelErr(errorMessage(e)))
              .finally(() => setBusy(false));
          }}
        >
          <p>No new trials start and the running ones are canceled.</p>
        </ConfirmDialog>
      )}
      <div class="cards-row">
        <section class="card" data-testid="sweep-summary">
          <h3>Summary</h3>
          <table class="kv">
            <tbody>
              <tr><th>sampling</th><td>{settings.sampling || '—'}</td></tr>
              <tr><th>policy</th><td>{settings.policy || '—'}</td></tr>
              <tr><th>primary metric</th><td>{metricName || '—'} ({goal === 'Maximize' ? 'maximize' : 'minimize'})</td></tr>
              <tr>
                <th>progress</th>
                <td>
                  <span data-testid="sweep-progress">
                    {trials.length} / {settings.max_total_runs ?? '?'} trials
                  </span>
                  , {done} finished, at most {settings.max_concurrent_runs ?? '?'} at a time
                  <Progress value={trials.length} max={settings.max_total_runs || trials.length || 1} />
                </td>
              </tr>
              <tr>
                <th>by status</th>
                <td class="counts">
                  {Object.keys(counts).length === 0 && '—'}
                  {Object.entries(counts).map(([st, n]) => (
                    <span key={st}>
                      <StatusBadge status={st} /> {n}
                    </span>
                  ))}
                </td>
              </tr>
              {settings.max_duration_minutes ? <tr><th>max duration</th><td>{formatDuration(settings.max_duration_minutes * 60)}</td></tr> : null}
              {settings.spec_file && <tr><th>spec</th><td class="mono">{settings.spec_file}</td></tr>}
              <tr><th>started</th><td>{formatTime(sw.started_at || sw.created_at)}</td></tr>
            </tbody>
          </table>
          {settings.parameters && settings.parameters.length > 0 && (
            <>
              <h4>Search space</h4>
              <table class="kv">
                <tbody>
                  {settings.parameters.map((p) => (
                    <tr key={p.name}>
                      <th>{p.name}</th>
                      <td class="mono">{p.expression}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          )}
        </section>
        <section class="card best" data-testid="best-trial">
          <h3>Best trial</h3>
          {best ? (
            <>
              <div class="big-metric">
                {metricName} = {formatMetric(best.metric)}
              </div>
              <div>
                <a class="mono" href={href.run(best.id)}>
                  {best.id}
                </a>{' '}
                <StatusBadge status={best.status} />
              </div>
              <table class="kv">
                <tbody>
                  {Object.entries(best.parameters || {}).map(([k, v]) => (
                    <tr key={k}>
                      <th>{k}</th>
                      <td>{String(v)}</td>
                    </tr>
                  ))}
                  <tr><th>reports</th><td>{best.reports ?? '—'}</td></tr>
                </tbody>
              </table>
            </>
          ) : (
            <Empty>No trial has reported {metricName || 'the primary metric'} yet.</Empty>
          )}
        </section>
      </div>

      <section class="card">
        <h3>
          {metricName} by step{' '}
          <span class="muted small">
            ({plotted.length} of {trials.length} trials{trials.length > CHART_TRIALS ? `, the best ${CHART_TRIALS}` : ''})
          </span>
        </h3>
        {metricName && plotted.length > 0 ? (
          <Chart
            testid="sweep-metric-chart"
            attrs={{ 'data-series': plotted.length }}
            data={data}
            series={plotted.map((t, i) => ({
              label: t.id,
              color: stoppedByPolicy(t) ? '#9ca3af' : PALETTE[i % PALETTE.length],
              dash: stoppedByPolicy(t),
              width: i === 0 ? 2.5 : 1.2,
            }))}
            height={300}
            legend={plotted.length <= 12}
          />
        ) : (
          <div data-testid="sweep-metric-chart" data-series="0">
            <Empty>No trial has logged {metricName || 'the primary metric'} yet.</Empty>
          </div>
        )}
      </section>

      <section class="card">
        <h3>Parameters vs {metricName}</h3>
        {trials.length > 0 ? (
          <ParCoords trials={trials} params={settings.parameters || []} metricName={metricName} goal={goal} />
        ) : (
          <Empty>No trials yet; the sweep controller starts them shortly.</Empty>
        )}
      </section>

      <section class="card">
        <h3>Trials</h3>
        {trials.length === 0 ? (
          <Empty>No trials yet.</Empty>
        ) : (
          <div class="scroll-x">
            <table class="grid" data-testid="trials-table">
              <thead>
                <tr>
                  <th>trial</th>
                  <th>status</th>
                  {paramNames.map((p) => (
                    <th key={p}>{p}</th>
                  ))}
                  <th>{metricName || 'metric'} (best)</th>
                  <th>last</th>
                  <th class="num">reports</th>
                  <th>duration</th>
                  <th>reason</th>
                </tr>
              </thead>
              <tbody>
                {ranked.map((t) => {
                  const stopped = stoppedByPolicy(t);
                  return (
                    <tr
                      key={t.id}
                      data-testid="trial-row"
                      data-run-id={t.id}
                      data-stopped={stopped ? '1' : undefined}
                      class={`${stopped ? 'stopped' : ''} ${best && best.id === t.id ? 'best-row' : ''}`}
                    >
                      <td>
                        <a class="mono" href={href.run(t.id)}>
                          {t.id}
                        </a>
                      </td>
                      <td>
                        <StatusBadge status={t.status} />
                        {stopped && <span class="stopped-tag" title={t.reason}>stopped by policy</span>}
                      </td>
                      {paramNames.map((p) => (
                        <td key={p}>{t.parameters?.[p] !== undefined ? String(t.parameters[p]) : ''}</td>
                      ))}
                      <td>{formatMetric(t.metric)}</td>
                      <td>{formatMetric(t.last)}</td>
                      <td class="num">{t.reports ?? ''}</td>
                      <td>{t.started_at ? formatDuration((t.ended_at || now) - t.started_at) : ''}</td>
                      <td class="reason small">{t.reason || t.error || ''}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
        <p class="muted small">
          Cancel the sweep from here or with <Code>ferry sweep cancel {sw.id}</Code>.
        </p>
      </section>
    </div>
  );
}

function Progress({ value, max }: { value: number; max: number }) {
  const pct = Math.max(0, Math.min(100, (value / max) * 100));
  return (
    <div class="progress" title={`${value} / ${max}`}>
      <div style={{ width: `${pct}%` }} />
    </div>
  );
}
