// Compute targets: the list and the attach form.
import { useEffect, useState } from 'preact/hooks';
import { api, errorMessage } from '../api';
import { Code, Empty, ErrorBox, Loading, StatusBadge } from '../components/common';
import { href } from '../lib/router';
import { useWorkspaceChanged } from '../hooks';
import type { AttachResult, Compute } from '../types';
import { nodeCounts } from './computes-util';
import { AttachForm } from './AttachForm';

export function ComputesPage() {
  const [list, setList] = useState<Compute[] | null>(null);
  const [err, setErr] = useState('');
  const [attaching, setAttaching] = useState(false);
  const [attached, setAttached] = useState<AttachResult | null>(null);
  const load = () =>
    api
      .computes()
      .then((r) => {
        setList(r.computes || []);
        setErr('');
      })
      .catch((e) => setErr(errorMessage(e)));
  useEffect(() => {
    load();
  }, []);
  useWorkspaceChanged(load);

  return (
    <div class="page">
      <div class="page-head">
        <h1>Compute</h1>
        <span class="spacer" />
        <button class="btn primary" data-testid="attach-button" onClick={() => setAttaching(!attaching)}>
          {attaching ? 'Close the form' : 'Attach compute'}
        </button>
      </div>
      {attached && (
        <div class="notice ok" data-testid="attach-result">
          Attached <a href={href.compute(attached.name || '')}>{attached.name}</a>
          {attached.kind ? ` (${attached.kind})` : ''}.
          {(attached.warnings || []).length > 0 && (
            <ul class="warnings" data-testid="attach-warnings">
              {(attached.warnings || []).map((w, i) => (
                <li key={i}>{w}</li>
              ))}
            </ul>
          )}
          <button class="btn small ghost" onClick={() => setAttached(null)}>
            Dismiss
          </button>
        </div>
      )}
      {attaching && (
        <AttachForm
          onDone={(r) => {
            setAttached(r);
            setAttaching(false);
            load();
          }}
          onCancel={() => setAttaching(false)}
        />
      )}
      {err && <ErrorBox message={err} onRetry={load} />}
      {!list && !err && <Loading />}
      {list && list.length === 0 && (
        <Empty>
          No compute targets. Attach one with the form or <Code>ferry compute attach ssh NAME --host HOST</Code>.
        </Empty>
      )}
      {list && list.length > 0 && (
        <div class="card scroll-x">
          <table class="grid" data-testid="compute-table">
            <thead>
              <tr>
                <th>name</th>
                <th>kind</th>
                <th>state</th>
                <th>nodes (busy / idle / starting)</th>
                <th class="num">running</th>
                <th class="num">queued</th>
                <th class="num">max concurrent</th>
              </tr>
            </thead>
            <tbody>
              {list.map((c) => {
                const n = nodeCounts(c);
                return (
                  <tr key={c.name} data-testid="compute-row" data-name={c.name} class="clickable" onClick={() => (location.hash = href.compute(c.name))}>
                    <td>
                      <a href={href.compute(c.name)} onClick={(e) => e.stopPropagation()}>
                        {c.name}
                      </a>
                    </td>
                    <td>{c.kind}</td>
                    <td>
                      <StatusBadge status={c.state} />
                      {c.state_reason && <div class="reason small">{c.state_reason}</div>}
                    </td>
                    <td>{n ? `${n.busy} / ${n.idle} / ${n.starting}${n.other ? ` (+${n.other} other)` : ''} of ${n.total}` : '—'}</td>
                    <td class="num">{c.active_runs ?? '—'}</td>
                    <td class="num">{c.queued_runs ?? '—'}</td>
                    <td class="num">{c.max_concurrent_runs ?? '—'}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
