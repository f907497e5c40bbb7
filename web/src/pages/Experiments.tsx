import { useEffect, useState } from 'preact/hooks';
import { api, errorMessage } from '../api';
import { Code, Empty, ErrorBox, Loading } from '../components/common';
import { formatTime } from '../lib/format';
import { href } from '../lib/router';
import { useWorkspaceChanged } from '../hooks';
import type { Experiment } from '../types';

export function ExperimentsPage() {
  const [list, setList] = useState<Experiment[] | null>(null);
  const [err, setErr] = useState('');
  const [q, setQ] = useState('');
  const load = () =>
    api
      .experiments()
      .then((r) => {
        setList(r.experiments || []);
        setErr('');
      })
      .catch((e) => setErr(errorMessage(e)));
  useEffect(() => {
    load();
  }, []);
  useWorkspaceChanged(load, 1000);
  const shown = (list || []).filter((e) => e.name.toLowerCase().includes(q.toLowerCase()));
  return (
    <div class="page">
      <div class="page-head">
        <h1>Experiments</h1>
        {list && <span class="muted">{list.length} experiments</span>}
        <span class="spacer" />
        <input type="search" placeholder="find an experiment" value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
      </div>
      {err && <ErrorBox message={err} onRetry={load} />}
      {!list && !err && <Loading />}
      {list && list.length === 0 && (
        <Empty>
          No experiments yet. Runs create theirs: <Code>ferry run submit train.py --experiment mnist</Code>
        </Empty>
      )}
      {list && list.length > 0 && (
        <div class="card scroll-x">
          <table class="grid" data-testid="experiments-table">
            <thead>
              <tr>
                <th>name</th>
                <th>created</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((e) => (
                <tr key={e.name} data-testid="experiment-row" data-name={e.name}>
                  <td>
                    <a href={href.experiment(e.name)}>{e.name}</a>
                  </td>
                  <td>{formatTime(e.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
