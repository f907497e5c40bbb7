// Models: the registered models, a model's versions, and a version's details, files and lineage.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, errorMessage } from '../api';
import { Code, Empty, ErrorBox, KVTable, Loading } from '../components/common';
import { formatBytes, formatCount, formatTime, plural } from '../lib/format';
import { href } from '../lib/router';
import { useFetched } from '../hooks';
import type { ModelFile, ModelVersion } from '../types';
import { Lineage, newestFirst } from './Datasets';
import { summarizeModels } from './models-util';

function Tags({ tags }: { tags?: Record<string, string> }) {
  const e = Object.entries(tags || {});
  if (e.length === 0) return <span class="muted">—</span>;
  return (
    <span class="mono small">
      {e.map(([k, v]) => (v === '' ? k : `${k}=${v}`)).join(', ')}
    </span>
  );
}

function RunLink({ id }: { id?: string }) {
  if (!id) return <span class="muted">—</span>;
  return (
    <a class="mono" href={href.run(id)} data-testid="model-run-link">
      {id}
    </a>
  );
}

function StageAliases({ v }: { v: ModelVersion }) {
  const stage = v.stage && v.stage !== 'None' ? v.stage : '';
  const aliases = v.aliases || [];
  if (!stage && aliases.length === 0) return <span class="muted">—</span>;
  return (
    <>
      {stage && <span class="badge st-run">{stage}</span>}
      {aliases.map((a) => (
        <span key={a} class="badge st-muted inline">
          @{a}
        </span>
      ))}
    </>
  );
}

export function ModelsPage() {
  const {
    data: list,
    err,
    reload: load,
  } = useFetched(() => api.models().then((r): ModelVersion[] => r.models || []), []);
  const models = useMemo(() => summarizeModels(list || []), [list]);
  return (
    <div class="page">
      <div class="page-head">
        <h1>Models</h1>
      </div>
      {err && <ErrorBox message={err} onRetry={load} />}
      {!list && !err && <Loading />}
      {list && models.length === 0 && (
        <Empty>
          No registered models. Register one with <Code>ferry model register NAME --path FILE_OR_DIR</Code>, from a run with{' '}
          <Code>run.register_model(NAME, model_path="outputs/…")</Code>, or through MLflow's registry.
        </Empty>
      )}
      {models.length > 0 && (
        <div class="card scroll-x">
          <table class="grid" data-testid="models-table">
            <thead>
              <tr>
                <th>name</th>
                <th class="num">latest</th>
                <th class="num">versions</th>
                <th>created</th>
                <th>source run</th>
                <th>description</th>
              </tr>
            </thead>
            <tbody>
              {models.map((m) => (
                <tr key={m.name} data-testid="model-row" data-name={m.name} class="clickable" onClick={() => (location.hash = href.model(m.name))}>
                  <td>
                    <a href={href.model(m.name)} onClick={(e) => e.stopPropagation()}>
                      {m.name}
                    </a>
                  </td>
                  <td class="num">
                    <a href={href.modelVersion(m.name, m.latest.version)} onClick={(e) => e.stopPropagation()}>
                      {m.latest.version}
                    </a>
                  </td>
                  <td class="num">{m.versions}</td>
                  <td>{formatTime(m.latest.created_at)}</td>
                  <td onClick={(e) => e.stopPropagation()}>
                    <RunLink id={m.latest.run_id} />
                  </td>
                  <td>{m.latest.description || <span class="muted">—</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

export function ModelPage({ name }: { name: string }) {
  const {
    data: versions,
    err,
    reload: load,
  } = useFetched(() => api.modelVersions(name).then((r) => newestFirst(r.versions)), [name]);
  return (
    <div class="page">
      <div class="page-head">
        <div class="title-block">
          <h1>{name}</h1>
          <div class="meta">
            <a href={href.models()}>Models</a>
            {versions && <span>{plural(versions.length, 'version')}</span>}
          </div>
        </div>
      </div>
      {err && <ErrorBox message={err} onRetry={load} />}
      {!versions && !err && <Loading />}
      {versions && versions.length > 0 && (
        <div class="card scroll-x">
          <table class="grid" data-testid="model-versions">
            <thead>
              <tr>
                <th class="num">version</th>
                <th>created</th>
                <th>source run</th>
                <th>stage / aliases</th>
                <th>tags</th>
                <th>properties</th>
                <th class="num">files</th>
                <th class="num">size</th>
                <th>description</th>
              </tr>
            </thead>
            <tbody>
              {versions.map((v) => (
                <tr
                  key={v.version}
                  data-testid="model-version-row"
                  data-version={v.version}
                  class="clickable"
                  onClick={() => (location.hash = href.modelVersion(name, v.version))}
                >
                  <td class="num">
                    <a href={href.modelVersion(name, v.version)} onClick={(e) => e.stopPropagation()}>
                      {v.version}
                    </a>
                  </td>
                  <td>{formatTime(v.created_at)}</td>
                  <td onClick={(e) => e.stopPropagation()}>
                    <RunLink id={v.run_id} />
                  </td>
                  <td>
                    <StageAliases v={v} />
                  </td>
                  <td>
                    <Tags tags={v.tags} />
                  </td>
                  <td>
                    <Tags tags={v.properties} />
                  </td>
                  <td class="num">{v.file_count ? formatCount(v.file_count) : '—'}</td>
                  <td class="num">{v.total_bytes ? formatBytes(v.total_bytes) : '—'}</td>
                  <td>{v.description || <span class="muted">—</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

export function ModelVersionPage({ name, version }: { name: string; version: string }) {
  const [v, setV] = useState<ModelVersion | null>(null);
  const [err, setErr] = useState('');
  const [files, setFiles] = useState<ModelFile[] | null>(null);
  const [filesErr, setFilesErr] = useState('');
  useEffect(() => {
    const ctrl = new AbortController();
    setV(null);
    setFiles(null);
    setErr('');
    setFilesErr('');
    const failed = (set: (m: string) => void) => (e: unknown) => (e as Error).name !== 'AbortError' && set(errorMessage(e));
    api
      .model(name, version, ctrl.signal)
      .then((m) => {
        setV(m);
        api
          .modelFiles(m.name, m.version, ctrl.signal)
          .then((r) => setFiles(r.files || []))
          .catch(failed(setFilesErr));
      })
      .catch(failed(setErr));
    return () => ctrl.abort();
  }, [name, version]);
  if (err)
    return (
      <div class="page">
        <ErrorBox message={err} />
        <p>
          <a href={href.model(name)}>All versions of {name}</a>
        </p>
      </div>
    );
  if (!v) return <div class="page"><Loading /></div>;
  const info: Record<string, unknown> = {
    created: `${formatTime(v.created_at)}${v.created_by ? ` by ${v.created_by}` : ''}`,
    updated: v.updated_at && v.updated_at !== v.created_at ? formatTime(v.updated_at) : undefined,
    description: v.description || undefined,
    status: v.status || undefined,
    source: v.source,
    'download URI': v.download_uri && v.download_uri !== v.source ? v.download_uri : undefined,
    'MLflow logged model': v.model_id || undefined,
  };
  for (const k of Object.keys(info)) if (info[k] === undefined) delete info[k];
  return (
    <div class="page">
      <div class="page-head">
        <div class="title-block">
          <h1 data-testid="model-title">
            {v.name}:{v.version}
          </h1>
          <div class="meta">
            <a href={href.models()}>Models</a>
            <a href={href.model(v.name)}>all versions of {v.name}</a>
            <span>
              source run <RunLink id={v.run_id} />
            </span>
            {((v.stage && v.stage !== 'None') || (v.aliases || []).length > 0) && <StageAliases v={v} />}
          </div>
        </div>
      </div>
      <div class="cards-row">
        <section class="card">
          <h3>Version</h3>
          <KVTable data={info} testid="model-info" />
        </section>
        <section class="card">
          <h3>Tags</h3>
          {Object.keys(v.tags || {}).length ? <KVTable data={v.tags || {}} /> : <div class="muted">No tags.</div>}
          <h3>Properties</h3>
          {Object.keys(v.properties || {}).length ? <KVTable data={v.properties || {}} /> : <div class="muted">No properties.</div>}
        </section>
      </div>
      <Lineage runs={v.runs || []} what="model version" />
      <section class="card scroll-x">
        <h3>Files</h3>
        {filesErr && <ErrorBox message={filesErr} />}
        {!files && !filesErr && <Loading />}
        {files && files.length === 0 && <div class="muted">No files.</div>}
        {files && files.length > 0 && (
          <>
            <div class="muted small">
              {plural(files.length, 'file')}, {formatBytes(files.reduce((a, f) => a + f.size, 0))}
            </div>
            <table class="grid" data-testid="model-files">
              <thead>
                <tr>
                  <th>path</th>
                  <th class="num">size</th>
                  <th>hash</th>
                </tr>
              </thead>
              <tbody>
                {files.map((f) => (
                  <tr key={f.path} data-testid="model-file" data-path={f.path}>
                    <td class="mono">{f.path}</td>
                    <td class="num">{formatBytes(f.size)}</td>
                    <td class="mono small" title={f.hash}>
                      {(f.hash || '').slice(0, 12)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </section>
    </div>
  );
}
