import { useState } from 'preact/hooks';
import { api, errorMessage } from '../api';
import { ATTACH_FIELDS, buildAttachBody, type AttachKind } from '../lib/attach';
import type { AttachResult } from '../types';

const KINDS: { kind: AttachKind; label: string; help: string }[] = [
  { kind: 'ssh', label: 'SSH host', help: 'A machine you reach over SSH; the server probes it (OS, Python, GPUs) before attaching.' },
  { kind: 'instance', label: 'Compute instance', help: 'An SSH machine owned by one user, with commands that stop and start it.' },
  { kind: 'slurm', label: 'Slurm cluster', help: 'An existing Slurm cluster, on this machine or through a login node.' },
  { kind: 'cluster', label: 'Managed cluster', help: 'A cluster Ferry runs itself and scales between min and max nodes.' },
];

export function AttachForm({ onDone, onCancel }: { onDone: (r: AttachResult) => void; onCancel: () => void }) {
  const [kind, setKind] = useState<AttachKind>('ssh');
  const [values, setValues] = useState<Record<string, string | boolean>>({ priority: 'dedicated' });
  const [error, setError] = useState('');
  const [badField, setBadField] = useState('');
  const [busy, setBusy] = useState(false);
  const set = (k: string, v: string | boolean) => setValues({ ...values, [k]: v });

  const submit = async (e: Event) => {
    e.preventDefault();
    const r = buildAttachBody(kind, values);
    if ('error' in r) {
      setError(r.error);
      setBadField(r.field);
      return;
    }
    setError('');
    setBadField('');
    setBusy(true);
    try {
      const res = await api.attachCompute(r.body);
      onDone({ ...res, name: res.name || (r.body.name as string), kind: res.kind || kind });
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="card attach-form" data-testid="attach-form" onSubmit={submit} noValidate>
      <div class="tabs small" role="tablist">
        {KINDS.map((k) => (
          <button
            type="button"
            key={k.kind}
            role="tab"
            aria-selected={kind === k.kind}
            class={kind === k.kind ? 'active' : ''}
            data-testid={`attach-kind-${k.kind}`}
            onClick={() => {
              setKind(k.kind);
              setError('');
              setBadField('');
            }}
          >
            {k.label}
          </button>
        ))}
      </div>
      <p class="muted small">{KINDS.find((k) => k.kind === kind)?.help}</p>
      <div class="form-grid">
        {ATTACH_FIELDS[kind]
          .filter((f) => !f.when || f.when(values))
          .map((f) => {
            const v = values[f.name];
            const cls = badField === f.name ? 'invalid' : '';
            if (f.type === 'checkbox') {
              return (
                <label class="check wide" key={f.name}>
                  <input type="checkbox" name={f.name} checked={!!v} onChange={(e) => set(f.name, (e.target as HTMLInputElement).checked)} />{' '}
                  {f.label}
                </label>
              );
            }
            return (
              <label class={`field ${cls}`} key={f.name}>
                <span>
                  {f.label}
                  {f.required && <span class="req">*</span>}
                </span>
                {f.type === 'select' ? (
                  <select name={f.name} value={(v as string) ?? ''} onChange={(e) => set(f.name, (e.target as HTMLSelectElement).value)}>
                    {(f.options || []).map((o) => (
                      <option key={o} value={o}>
                        {o || '(server default)'}
                      </option>
                    ))}
                  </select>
                ) : (
                  <input
                    name={f.name}
                    type={f.type === 'password' ? 'password' : 'text'}
                    inputMode={f.type === 'int' ? 'numeric' : undefined}
                    autocomplete={f.type === 'password' ? 'new-password' : 'off'}
                    placeholder={f.placeholder}
                    value={(v as string) ?? ''}
                    onInput={(e) => set(f.name, (e.target as HTMLInputElement).value)}
                  />
                )}
                {f.help && <small class="muted">{f.help}</small>}
              </label>
            );
          })}
      </div>
      {error && (
        <div class="form-error" data-testid="form-error" role="alert">
          {error}
        </div>
      )}
      <div class="modal-actions">
        <button type="button" class="btn" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
        <button type="submit" class="btn primary" data-testid="attach-submit" disabled={busy}>
          {busy ? 'Probing…' : 'Attach'}
        </button>
      </div>
    </form>
  );
}
