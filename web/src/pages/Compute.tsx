// One compute target: details, nodes, active runs, and its actions.
import { useEffect, useState } from 'preact/hooks';
import { api, errorMessage, loadComputeKinds } from '../api';
import { ConfirmDialog, Empty, ErrorBox, KVTable, Loading, StatusBadge, renderValue } from '../components/common';
import { formatTime } from '../lib/format';
import { href } from '../lib/router';
import { useWorkspaceChanged } from '../hooks';
import type { Compute, ComputeKind, ComputeNode } from '../types';
import { nodeCounts } from './computes-util';

export function ComputePage({ name }: { name: string }) {
  const [c, setC] = useState<Compute | null>(null);
  const [err, setErr] = useState('');
  const [actionErr, setActionErr] = useState('');
  const [actionMsg, setActionMsg] = useState('');
  const [busy, setBusy] = useState('');
  const [detach, setDetach] = useState(false);
  const [detachErr, setDetachErr] = useState('');
  // The kind's row (GET /compute-kinds) says which actions its targets have; without it (an
  // older server, a failed fetch) only detach is offered.
  const [kinds, setKinds] = useState<ComputeKind[]>([]);
  useEffect(() => {
    loadComputeKinds()
      .then(setKinds)
      .catch(() => setKinds([]));
  }, []);
  const load = () =>
    api
      .compute(name)
      .then((r) => {
        setC(r);
        setErr('');
      })
      .catch((e) => setErr(errorMessage(e)));
  useEffect(() => {
    load();
  }, [name]);
  useWorkspaceChanged(load);

  const act = (action: 'stop' | 'start' | 'trust') => {
    setBusy(action);
    setActionErr('');
    setActionMsg('');
    api
      .computeAction(name, action)
      .then((r) => {
        setActionMsg(
          action === 'trust'
            ? r.changed
              ? 'The new host key is now trusted.'
              : 'The host key was already trusted.'
            : `${action === 'stop' ? 'Stopping' : 'Starting'}: state ${r.state ?? 'updated'}.`,
        );
        load();
      })
      .catch((e) => setActionErr(errorMessage(e)))
      .finally(() => setBusy(''));
  };

  if (err && !c)
    return (
      <div class="page">
        <ErrorBox message={err} onRetry={load} />
        <p>
          <a href="#/compute">All compute targets</a>
        </p>
      </div>
    );
  if (!c) return <div class="page"><Loading /></div>;
  const d = c.details || {};
  const n = nodeCounts(c);
  const nodes: ComputeNode[] = Array.isArray(d.nodes) ? d.nodes : [];
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(d)) if (k !== 'nodes' && k !== 'counts') rest[k] = v;
  const kind = kinds.find((k) => k.name === c.kind);
  // A kind with a host key whose target runs its commands on this machine (mode local) has none.
  const usesSsh = !!kind?.host_key && d.mode !== 'local';
  const lastError = d.last_error || d.autoscaler_error || d.gpu_error;

  return (
    <div class="page" data-testid="compute-details">
      <div class="page-head">
        <div class="title-block">
          <h1>{c.name}</h1>
          <div class="meta">
            <StatusBadge status={c.state} testid="compute-state" />
            <span>{c.kind}</span>
            {c.owner && <span>owner {c.owner}</span>}
            {c.created_at ? <span>attached {formatTime(c.created_at)}</span> : null}
          </div>
        </div>
        <span class="spacer" />
        {kind?.powered && (
          <>
            <button class="btn" data-testid="stop-button" disabled={!!busy || c.state === 'stopped' || c.state === 'stopping'} onClick={() => act('stop')}>
              {busy === 'stop' ? 'Stopping…' : 'Stop'}
            </button>
            <button class="btn" data-testid="start-button" disabled={!!busy || c.state === 'ready' || c.state === 'starting'} onClick={() => act('start')}>
              {busy === 'start' ? 'Starting…' : 'Start'}
            </button>
          </>
        )}
        {usesSsh && (
          <button class="btn" data-testid="trust-button" disabled={!!busy} onClick={() => act('trust')} title="Trust the host's current SSH key after an expected change">
            {busy === 'trust' ? 'Trusting…' : 'Trust host key'}
          </button>
        )}
        {c.name !== 'local' && (
          <button class="btn danger" data-testid="detach-button" onClick={() => setDetach(true)}>
            Detach
          </button>
        )}
      </div>
      {c.state_reason && <div class={`notice ${c.state === 'ready' ? '' : 'bad'}`}>{c.state_reason}</div>}
      {lastError && <div class="notice bad">Last error: {String(lastError)}</div>}
      {actionErr && <ErrorBox message={actionErr} />}
      {actionMsg && <div class="notice ok">{actionMsg}</div>}
      {detach && (
        <ConfirmDialog
          title={`Detach ${c.name}?`}
          yesLabel="Detach"
          danger
          busy={busy === 'detach'}
          error={detachErr}
          forceLabel={`Cancel its active runs (${c.active_runs ?? 0} running)`}
          onNo={() => {
            setDetach(false);
            setDetachErr('');
          }}
          onYes={(force) => {
            setBusy('detach');
            api
              .detachCompute(c.name, force)
              .then(() => {
                setDetach(false);
                location.hash = href.computes();
              })
              .catch((e) => setDetachErr(errorMessage(e)))
              .finally(() => setBusy(''));
          }}
        >
          <p>
            Runs can no longer be submitted to <b>{c.name}</b>. Without the checkbox, detaching is refused while runs are active.
          </p>
        </ConfirmDialog>
      )}
      <div class="cards-row">
        <section class="card">
          <h3>Usage</h3>
          <table class="kv">
            <tbody>
              <tr><th>running</th><td>{c.active_runs ?? '—'}</td></tr>
              <tr><th>queued</th><td>{c.queued_runs ?? '—'}</td></tr>
              <tr><th>max concurrent runs</th><td>{c.max_concurrent_runs ?? '—'}</td></tr>
              {n && (
                <tr>
                  <th>nodes</th>
                  <td>
                    {n.busy} busy, {n.idle} idle, {n.starting} starting{n.other ? `, ${n.other} other` : ''} ({n.total} in all)
                  </td>
                </tr>
              )}
            </tbody>
          </table>
          <h4>Capabilities</h4>
          <div class="caps">
            {Object.entries(c.capabilities || {}).map(([k, v]) => (
              <span key={k} class={`cap ${v ? 'on' : 'off'}`}>
                {v ? '✓' : '✗'} {k.replace(/_/g, ' ')}
              </span>
            ))}
            {Object.keys(c.capabilities || {}).length === 0 && <span class="muted">unknown</span>}
          </div>
        </section>
        {kind?.provisions && <ResizeCard c={c} onDone={load} />}
        <section class="card">
          <h3>Active runs</h3>
          {(c.runs || []).length === 0 ? (
            <Empty>No active runs on {c.name}.</Empty>
          ) : (
            <ul class="plain">
              {(c.runs || []).map((r) => (
                <li key={r.id}>
                  <a class="mono" href={href.run(r.id)}>
                    {r.id}
                  </a>{' '}
                  <StatusBadge status={r.status} />
                </li>
              ))}
            </ul>
          )}
        </section>
      </div>
      {nodes.length > 0 && (
        <section class="card scroll-x">
          <h3>Nodes</h3>
          <table class="grid" data-testid="compute-nodes">
            <thead>
              <tr>
                {nodeColumns(nodes).map((k) => (
                  <th key={k}>{k.replace(/_/g, ' ')}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {nodes.map((nd, i) => (
                <tr key={String(nd.node ?? i)}>
                  {nodeColumns(nodes).map((k) => (
                    <td key={k}>
                      {k === 'since' && typeof nd.since === 'number' ? formatTime(nd.since) : /state/.test(k) && nd[k] ? <span class="badge st-other">{String(nd[k])}</span> : renderValue(nd[k])}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
      <section class="card">
        <h3>Details</h3>
        <KVTable data={rest} testid="compute-details-table" />
      </section>
    </div>
  );
}

function nodeColumns(nodes: ComputeNode[]): string[] {
  const pref = ['node', 'state', 'slurm_state', 'provider_state', 'partition', 'cpus', 'gres', 'address', 'since', 'start_seconds', 'error'];
  const seen = new Set<string>();
  for (const n of nodes) Object.keys(n).forEach((k) => seen.add(k));
  return [...pref.filter((k) => seen.has(k)), ...[...seen].filter((k) => !pref.includes(k)).sort()];
}

function ResizeCard({ c, onDone }: { c: Compute; onDone: () => void }) {
  const d = c.details || {};
  const [v, setV] = useState({
    min_nodes: String(d.min_nodes ?? ''),
    max_nodes: String(d.max_nodes ?? ''),
    idle_seconds_before_scaledown: String(d.idle_seconds_before_scaledown ?? ''),
  });
  const [err, setErr] = useState('');
  const [ok, setOk] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = (e: Event) => {
    e.preventDefault();
    const body: Record<string, number> = {};
    const limits: Record<string, [number, string]> = {
      min_nodes: [0, 'Min nodes'],
      max_nodes: [1, 'Max nodes'],
      idle_seconds_before_scaledown: [1, 'Idle seconds'],
    };
    for (const [k, raw] of Object.entries(v)) {
      const t = raw.trim();
      if (t === '') continue;
      if (!/^\d+$/.test(t) || Number(t) < limits[k][0]) {
        setErr(`${limits[k][1]} must be a whole number of at least ${limits[k][0]}`);
        return;
      }
      body[k] = Number(t);
    }
    if (body.min_nodes !== undefined && body.max_nodes !== undefined && body.min_nodes > body.max_nodes) {
      setErr('Min nodes must not exceed max nodes');
      return;
    }
    setBusy(true);
    setErr('');
    api
      .resizeCluster(c.name, body)
      .then(() => {
        setOk('Applied; running jobs are kept.');
        onDone();
      })
      .catch((e2) => setErr(errorMessage(e2)))
      .finally(() => setBusy(false));
  };
  const field = (k: keyof typeof v, label: string) => (
    <label class="field">
      <span>{label}</span>
      <input name={k} inputMode="numeric" value={v[k]} onInput={(e) => setV({ ...v, [k]: (e.target as HTMLInputElement).value })} />
    </label>
  );
  return (
    <form class="card" data-testid="resize-form" onSubmit={submit}>
      <h3>Size</h3>
      <div class="form-grid narrow">
        {field('min_nodes', 'Min nodes')}
        {field('max_nodes', 'Max nodes')}
        {field('idle_seconds_before_scaledown', 'Idle seconds before scale-down')}
      </div>
      {err && <div class="form-error" data-testid="form-error">{err}</div>}
      {ok && <div class="notice ok">{ok}</div>}
      <button class="btn primary" type="submit" data-testid="resize-submit" disabled={busy}>
        {busy ? 'Applying…' : 'Resize'}
      </button>
    </form>
  );
}
