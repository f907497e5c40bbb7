import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { statusClass } from '../lib/status';

export function StatusBadge({ status, testid }: { status: string; testid?: string }) {
  return (
    <span class={`badge ${statusClass(status)}`} data-testid={testid}>
      {status || 'unknown'}
    </span>
  );
}

export function ErrorBox({ message, onRetry }: { message: string; onRetry?: () => void }) {
  return (
    <div class="error-box" data-testid="error-box" role="alert">
      <span>{message}</span>
      {onRetry && (
        <button class="btn small" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return (
    <div class="empty-state" data-testid="empty-state">
      {children}
    </div>
  );
}

export function Loading({ what = 'Loading' }: { what?: string }) {
  return <div class="loading">{what}…</div>;
}

export function Code({ children }: { children: ComponentChildren }) {
  return <code class="code">{children}</code>;
}

/** A modal confirmation; `force` shows a checkbox whose value is passed to onYes. */
export function ConfirmDialog(props: {
  title: string;
  children?: ComponentChildren;
  yesLabel?: string;
  forceLabel?: string;
  danger?: boolean;
  busy?: boolean;
  error?: string;
  onYes: (force: boolean) => void;
  onNo: () => void;
}) {
  const [force, setForce] = useState(false);
  const yes = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    yes.current?.focus();
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && props.onNo();
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
  return (
    <div class="modal-backdrop" onClick={(e) => e.target === e.currentTarget && props.onNo()}>
      <div class="modal" role="dialog" aria-modal="true" data-testid="confirm-dialog">
        <h3>{props.title}</h3>
        {props.children}
        {props.forceLabel && (
          <label class="check">
            <input
              type="checkbox"
              data-testid="confirm-force"
              checked={force}
              onChange={(e) => setForce((e.target as HTMLInputElement).checked)}
            />{' '}
            {props.forceLabel}
          </label>
        )}
        {props.error && <div class="form-error" data-testid="form-error">{props.error}</div>}
        <div class="modal-actions">
          <button class="btn" onClick={props.onNo}>
            Cancel
          </button>
          <button
            ref={yes}
            class={`btn ${props.danger ? 'danger' : 'primary'}`}
            data-testid="confirm-yes"
            disabled={props.busy}
            onClick={() => props.onYes(force)}
          >
            {props.busy ? 'Working…' : props.yesLabel || 'Yes'}
          </button>
        </div>
      </div>
    </div>
  );
}

/** A key/value table for objects of unknown shape (compute details, configuration). */
export function KVTable({ data, testid }: { data: Record<string, unknown>; testid?: string }) {
  const entries = Object.entries(data);
  if (entries.length === 0) return <div class="muted">none</div>;
  return (
    <table class="kv" data-testid={testid}>
      <tbody>
        {entries.map(([k, v]) => (
          <tr key={k}>
            <th>{k}</th>
            <td>{renderValue(v)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function renderValue(v: unknown): ComponentChildren {
  if (v === null || v === undefined) return <span class="muted">—</span>;
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'object') {
    if (Array.isArray(v) && v.every((x) => typeof x !== 'object' || x === null)) return v.join(', ') || '—';
    if (!Array.isArray(v) && Object.keys(v as object).length <= 12 && Object.values(v as object).every((x) => typeof x !== 'object' || x === null)) {
      return <KVTable data={v as Record<string, unknown>} />;
    }
    return <pre class="json">{JSON.stringify(v, null, 2)}</pre>;
  }
  return String(v);
}
