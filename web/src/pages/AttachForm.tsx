// The attach-compute form, generated from the server's kind table (GET /api/v1/compute-kinds).
import { useEffect, useState } from 'preact/hooks';
import { api, errorMessage, loadComputeKinds } from '../api';
import { Code, ErrorBox, Loading } from '../components/common';
import { attachableKinds, buildAttachBody, formFields, visibleFields, type FormValues } from '../lib/attach';
import type { AttachResult, ComputeKind } from '../types';

export function AttachForm({ onDone, onCancel }: { onDone: (r: AttachResult) => void; onCancel: () => void }) {
  const [kinds, setKinds] = useState<ComputeKind[] | null>(null);
  const [loadError, setLoadError] = useState('');
  const [kindName, setKindName] = useState('');
  const [values, setValues] = useState<FormValues>({});
  const [error, setError] = useState('');
  const [badField, setBadField] = useState('');
  const [busy, setBusy] = useState(false);
  const set = (k: string, v: string | boolean) => setValues({ ...values, [k]: v });

  const load = () => {
    setLoadError('');
    loadComputeKinds()
      .then((all) => {
        const k = attachableKinds(all);
        setKinds(k);
        setKindName((cur) => (k.some((x) => x.name === cur) ? cur : k[0]?.name || ''));
      })
      .catch((e) => setLoadError(`Cannot load the compute kinds from the server: ${errorMessage(e)}`));
  };
  useEffect(load, []);

  const kind = kinds?.find((k) => k.name === kindName);
  const fields = kind ? formFields(kind) : [];

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!kind) return;
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
      onDone({ ...res, name: res.name || (r.body.name as string), kind: res.kind || kind.name });
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  const verb = kind?.verb === 'create' ? 'Create' : 'Attach';
  return (
    <form class="card attach-form" data-testid="attach-form" onSubmit={submit} noValidate>
      {loadError && <ErrorBox message={loadError} onRetry={load} />}
      {!kinds && !loadError && <Loading what="Loading the compute kinds" />}
      {kinds && kinds.length === 0 && <p class="muted small">This server has no kind of compute target that can be attached.</p>}
      {kinds && kinds.length > 0 && (
        <div class="tabs small" role="tablist">
          {kinds.map((k) => (
            <button
              type="button"
              key={k.name}
              role="tab"
              aria-selected={kindName === k.name}
              class={kindName === k.name ? 'active' : ''}
              data-testid={`attach-kind-${k.name}`}
              title={k.help}
              onClick={() => {
                setKindName(k.name);
                setError('');
                setBadField('');
              }}
            >
              {k.name}
            </button>
          ))}
        </div>
      )}
      {kind && (
        <p class="muted small" data-testid="attach-help">
          {kind.help}
          {kind.verb && (
            <>
              ; from the command line: <Code>{`ferry compute ${kind.verb} ${kind.name} NAME`}</Code>
            </>
          )}
        </p>
      )}
      {kind && (
        <div class="form-grid">
          {visibleFields(fields, values).map((f) => {
            const v = values[f.name];
            const cls = badField === f.name ? 'invalid' : '';
            if (f.type === 'checkbox') {
              return (
                <label class={`check wide ${cls}`} key={f.name} title={f.help}>
                  <input type="checkbox" name={f.name} checked={v === true} onChange={(e) => set(f.name, (e.target as HTMLInputElement).checked)} />{' '}
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
                  <select name={f.name} value={typeof v === 'string' ? v : ''} onChange={(e) => set(f.name, (e.target as HTMLSelectElement).value)}>
                    {(f.options || []).map((o) => (
                      <option key={o} value={o}>
                        {o || (f.required ? '(choose one)' : '(server default)')}
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
                    value={typeof v === 'string' ? v : ''}
                    onInput={(e) => set(f.name, (e.target as HTMLInputElement).value)}
                  />
                )}
                {f.help && <small class="muted">{f.help}</small>}
              </label>
            );
          })}
        </div>
      )}
      {error && (
        <div class="form-error" data-testid="form-error" role="alert">
          {error}
        </div>
      )}
      <div class="modal-actions">
        <button type="button" class="btn" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
        <button type="submit" class="btn primary" data-testid="attach-submit" disabled={busy || !kind}>
          {busy ? (verb === 'Create' ? 'Creating…' : 'Probing…') : verb}
        </button>
      </div>
    </form>
  );
}
