// Datasets: the latest version of each, a dataset's versions, and a version: its definition,
// files, the runs that read and wrote it, and for tabular data a schema and preview of its
// first file read in the browser (lib/tabular).
import { useEffect, useState } from 'preact/hooks';
import { api, errorMessage } from '../api';
import { Code, Empty, ErrorBox, KVTable, Loading } from '../components/common';
import { parseDatasetManifest, type DatasetFile } from '../lib/datafiles';
import { formatBytes, formatCount, formatTime, plural } from '../lib/format';
import { href } from '../lib/router';
import { previewDelimited, previewJsonLines, type Table } from '../lib/tabular';
import { replaceHash, useFetched } from '../hooks';
import type { AssetUse, DatasetVersion } from '../types';

export function DatasetsPage({ query }: { query: URLSearchParams }) {
  const archived = query.get('archived') === '1';
  // A run that registers an output dataset finishes with a workspace change.
  const {
    data: list,
    err,
    reload: load,
  } = useFetched(() => api.datasets(archived).then((r): DatasetVersion[] => r.datasets || []), [archived]);
  return (
    <div class="page">
      <div class="page-head">
        <h1>Datasets</h1>
        <span class="spacer" />
        <label class="check">
          <input
            type="checkbox"
            data-testid="datasets-archived"
            checked={archived}
            onChange={(e) => replaceHash(href.datasets((e.target as HTMLInputElement).checked))}
          />{' '}
          Show archived
        </label>
      </div>
      {err && <ErrorBox message={err} onRetry={load} />}
      {!list && !err && <Loading />}
      {list && list.length === 0 && (
        <Empty>
          No datasets{archived ? '' : ' (archived ones are hidden)'}. Register one with{' '}
          <Code>ferry dataset register NAME --path DIR</Code> or the SDK's <Code>Dataset.File.upload_directory(…).register(ws, NAME)</Code>.
        </Empty>
      )}
      {list && list.length > 0 && (
        <div class="card scroll-x">
          <table class="grid" data-testid="datasets-table">
            <thead>
              <tr>
                <th>name</th>
                <th class="num">latest</th>
                <th>kind</th>
                <th class="num">files</th>
                <th class="num">size</th>
                <th>registered</th>
                <th>description</th>
              </tr>
            </thead>
            <tbody>
              {list.map((d) => (
                <tr key={d.name} data-testid="dataset-row" data-name={d.name} class="clickable" onClick={() => (location.hash = href.dataset(d.name))}>
                  <td>
                    <a href={href.dataset(d.name)} onClick={(e) => e.stopPropagation()}>
                      {d.name}
                    </a>
                    {d.archived && <span class="badge st-muted inline">archived</span>}
                  </td>
                  <td class="num">
                    <a href={href.datasetVersion(d.name, d.version)} onClick={(e) => e.stopPropagation()}>
                      {d.version}
                    </a>
                  </td>
                  <td>{kindLabel(d)}</td>
                  <td class="num">{formatCount(d.file_count)}</td>
                  <td class="num">{formatBytes(d.total_bytes)}</td>
                  <td>{formatTime(d.created_at)}</td>
                  <td>{d.description || <span class="muted">—</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

/** A dataset's or a model's versions, newest first. */
export function newestFirst<V extends { version: number }>(versions: V[] | undefined): V[] {
  return [...(versions || [])].sort((a, b) => b.version - a.version);
}

function kindLabel(d: DatasetVersion): string {
  const format = d.kind === 'tabular' ? d.definition?.format : '';
  return format ? `${d.kind} (${format})` : d.kind;
}

export function DatasetPage({ name }: { name: string }) {
  const {
    data: versions,
    err,
    reload: load,
  } = useFetched(() => api.datasetVersions(name).then((r) => newestFirst(r.versions)), [name]);
  return (
    <div class="page">
      <div class="page-head">
        <div class="title-block">
          <h1>{name}</h1>
          <div class="meta">
            <a href={href.datasets()}>Datasets</a>
            {versions && <span>{plural(versions.length, 'version')}</span>}
          </div>
        </div>
      </div>
      {err && <ErrorBox message={err} onRetry={load} />}
      {!versions && !err && <Loading />}
      {versions && versions.length > 0 && (
        <div class="card scroll-x">
          <table class="grid" data-testid="dataset-versions">
            <thead>
              <tr>
                <th class="num">version</th>
                <th>kind</th>
                <th>datastore</th>
                <th class="num">files</th>
                <th class="num">size</th>
                <th>registered</th>
                <th>by</th>
                <th>description</th>
                <th>id</th>
              </tr>
            </thead>
            <tbody>
              {versions.map((v) => (
                <tr
                  key={v.version}
                  data-testid="dataset-version-row"
                  data-version={v.version}
                  class="clickable"
                  onClick={() => (location.hash = href.datasetVersion(name, v.version))}
                >
                  <td class="num">
                    <a href={href.datasetVersion(name, v.version)} onClick={(e) => e.stopPropagation()}>
                      {v.version}
                    </a>
                    {v.archived && <span class="badge st-muted inline">archived</span>}
                  </td>
                  <td>{kindLabel(v)}</td>
                  <td>{v.datastore}</td>
                  <td class="num">{formatCount(v.file_count)}</td>
                  <td class="num">{formatBytes(v.total_bytes)}</td>
                  <td>{formatTime(v.created_at)}</td>
                  <td>{v.created_by || <span class="muted">workspace</span>}</td>
                  <td>{v.description || <span class="muted">—</span>}</td>
                  <td class="mono" title={v.id}>
                    {v.id.slice(0, 12)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

const MAX_FILES_SHOWN = 500;

export function DatasetVersionPage({ name, version }: { name: string; version: string }) {
  const [v, setV] = useState<DatasetVersion | null>(null);
  const [err, setErr] = useState('');
  const [files, setFiles] = useState<DatasetFile[] | null>(null);
  const [filesErr, setFilesErr] = useState('');
  useEffect(() => {
    const ctrl = new AbortController();
    setV(null);
    setFiles(null);
    setErr('');
    setFilesErr('');
    const failed = (set: (m: string) => void) => (e: unknown) => (e as Error).name !== 'AbortError' && set(errorMessage(e));
    api
      .dataset(name, version, ctrl.signal)
      .then((d) => {
        setV(d);
        api
          .blob(d.manifest, ctrl.signal)
          .then((b) => setFiles(parseDatasetManifest(new TextDecoder().decode(b))))
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
          <a href={href.dataset(name)}>All versions of {name}</a>
        </p>
      </div>
    );
  if (!v) return <div class="page"><Loading /></div>;
  const def = v.definition || {};
  const { paths, transforms, ...options } = def;
  const info: Record<string, unknown> = {
    id: v.id,
    kind: v.kind,
    datastore: v.datastore,
    files: formatCount(v.file_count),
    size: formatBytes(v.total_bytes),
    registered: `${formatTime(v.created_at)}${v.created_by ? ` by ${v.created_by}` : ''}`,
    description: v.description || undefined,
    archived: v.archived ? 'yes (hidden from listings; still readable)' : undefined,
  };
  for (const k of Object.keys(info)) if (info[k] === undefined) delete info[k];
  return (
    <div class="page">
      <div class="page-head">
        <div class="title-block">
          <h1 data-testid="dataset-title">
            {v.name}:{v.version}
          </h1>
          <div class="meta">
            <a href={href.datasets()}>Datasets</a>
            <a href={href.dataset(v.name)}>all versions of {v.name}</a>
            <span>{kindLabel(v)}</span>
            {v.archived && <span class="badge st-muted">archived</span>}
          </div>
        </div>
      </div>
      <div class="cards-row">
        <section class="card">
          <h3>Version</h3>
          <KVTable data={info} testid="dataset-info" />
          {Object.keys(v.tags || {}).length > 0 && (
            <>
              <h4>Tags</h4>
              <KVTable data={v.tags || {}} />
            </>
          )}
        </section>
        <section class="card" data-testid="dataset-definition">
          <h3>Definition</h3>
          {Array.isArray(paths) && paths.length > 0 ? (
            <table class="grid">
              <thead>
                <tr>
                  <th>datastore</th>
                  <th>path or pattern</th>
                </tr>
              </thead>
              <tbody>
                {paths.map((p: any, i: number) => (
                  <tr key={i}>
                    <td>
                      <a href={href.datastore(p?.datastore || v.datastore)}>{p?.datastore || v.datastore}</a>
                    </td>
                    <td class="mono">{String(p?.path ?? '')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <div class="muted">Files uploaded from a directory (no path patterns).</div>
          )}
          {Object.keys(options).length > 0 && (
            <>
              <h4>{v.kind === 'tabular' ? 'Format and options' : 'Options'}</h4>
              <KVTable data={options} />
            </>
          )}
          {Array.isArray(transforms) && transforms.length > 0 && (
            <>
              <h4>Transforms</h4>
              <ol class="transforms" data-testid="dataset-transforms">
                {transforms.map((t: any, i: number) => {
                  const { op, ...args } = t || {};
                  return (
                    <li key={i}>
                      <b>{String(op)}</b> {Object.keys(args).length > 0 && <span class="mono small">{JSON.stringify(args)}</span>}
                    </li>
                  );
                })}
              </ol>
            </>
          )}
        </section>
      </div>
      <Lineage runs={v.runs || []} what="dataset version" />
      {v.kind === 'tabular' && <Preview v={v} files={files} filesErr={filesErr} />}
      <section class="card scroll-x">
        <h3>Files</h3>
        {filesErr && <ErrorBox message={filesErr} />}
        {!files && !filesErr && <Loading what="Reading the file list" />}
        {files && (
          <>
            <div class="muted small">
              {plural(files.length, 'file')}, {formatBytes(files.reduce((a, f) => a + f.size, 0))}
              {files.length > MAX_FILES_SHOWN && `; the first ${MAX_FILES_SHOWN} are shown`}
            </div>
            <table class="grid" data-testid="dataset-files">
              <thead>
                <tr>
                  <th>path</th>
                  <th class="num">size</th>
                  {files.some((f) => f.source !== undefined) && <th>in the datastore</th>}
                  {files.some((f) => f.source !== undefined) && <th>modified</th>}
                </tr>
              </thead>
              <tbody>
                {files.slice(0, MAX_FILES_SHOWN).map((f) => (
                  <tr key={f.path} data-testid="dataset-file" data-path={f.path}>
                    <td class="mono">{f.path}</td>
                    <td class="num">{formatBytes(f.size)}</td>
                    {f.source !== undefined && <td class="mono">{f.source}</td>}
                    {f.source !== undefined && <td>{formatTime(f.modified_at)}</td>}
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

/** The runs that read (input) and wrote (output) a dataset or model version. */
export function Lineage({ runs, what }: { runs: AssetUse[]; what: string }) {
  return (
    <section class="card scroll-x">
      <h3>Lineage</h3>
      {runs.length === 0 ? (
        <div class="muted" data-testid="lineage-empty">
          No run has read or written this {what} yet.
        </div>
      ) : (
        <table class="grid" data-testid="lineage">
          <thead>
            <tr>
              <th>run</th>
              <th>how</th>
              <th>as</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((u, i) => (
              <tr key={i} data-testid="lineage-row" data-run-id={u.run_id} data-direction={u.direction}>
                <td>
                  <a class="mono" href={href.run(u.run_id)} data-testid="lineage-run">
                    {u.run_id}
                  </a>
                </td>
                <td>{u.direction === 'input' ? 'read it' : u.direction === 'output' ? 'wrote it' : u.direction}</td>
                <td class="mono">{u.as_name || <span class="muted">—</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

const PREVIEW_ROWS = 50;
const HEAD_BYTES = 256 * 1024; // of the first file, decoded for the preview
const MAX_FETCH = 32 * 1024 * 1024; // a larger first file is not fetched

function decoder(encoding: unknown): TextDecoder {
  const name = typeof encoding === 'string' && encoding ? encoding.replace(/^utf8$/i, 'utf-8') : 'utf-8';
  try {
    return new TextDecoder(name);
  } catch {
    return new TextDecoder('utf-8');
  }
}

function Preview({ v, files, filesErr }: { v: DatasetVersion; files: DatasetFile[] | null; filesErr: string }) {
  const def = v.definition || {};
  const format = String(def.format || '');
  const first = files?.[0];
  const [table, setTable] = useState<Table | null>(null);
  const [err, setErr] = useState('');
  const [note, setNote] = useState('');
  useEffect(() => {
    if (!first || format === 'parquet') return;
    if (first.size > MAX_FETCH) {
      setNote(`The first file is ${formatBytes(first.size)}; Studio previews files up to ${formatBytes(MAX_FETCH)}.`);
      return;
    }
    const ctrl = new AbortController();
    const bytes = first.hash
      ? api.blob(first.hash, ctrl.signal)
      : api.datastoreContent(v.datastore, first.source || first.path, { size: first.size, modified_at: first.modified_at || 0 }, ctrl.signal);
    bytes
      .then((b) => {
        const complete = b.length <= HEAD_BYTES;
        const text = decoder(def.encoding).decode(complete ? b : b.subarray(0, HEAD_BYTES));
        if (format === 'delimited') {
          setTable(previewDelimited(text, { separator: def.separator || ',', header: def.header !== false, maxRows: PREVIEW_ROWS, complete }));
        } else if (format === 'json_lines') {
          setTable(previewJsonLines(text, { maxRows: PREVIEW_ROWS, complete }));
        }
      })
      .catch((e) => (e as Error).name !== 'AbortError' && setErr(`cannot read '${first.path}': ${errorMessage(e)}`));
    return () => ctrl.abort();
  }, [first?.path, first?.hash, format]);
  return (
    <section class="card scroll-x" data-testid="dataset-preview-card">
      <h3>Schema and preview</h3>
      {format === 'parquet' ? (
        <div class="muted" data-testid="preview-unavailable">
          Preview not available for Parquet in Studio; read it with <Code>Dataset.get_by_name(ws, "{v.name}").to_pandas_dataframe()</Code>.
        </div>
      ) : filesErr ? null : !files ? (
        <Loading />
      ) : !first ? (
        <div class="muted">The version has no files.</div>
      ) : (
        <>
          <div class="muted small">
            From the first file, <span class="mono">{first.path}</span>, as stored (the definition's transforms are not applied); the types are
            guessed from the rows read.
          </div>
          {note && <div class="notice small">{note}</div>}
          {err && <ErrorBox message={err} />}
          {!table && !err && !note && <Loading what="Reading the first file" />}
          {table && (
            <>
              <h4>Schema</h4>
              <table class="grid" data-testid="dataset-schema">
                <thead>
                  <tr>
                    <th>column</th>
                    <th>type</th>
                    <th class="num">empty in the rows read</th>
                  </tr>
                </thead>
                <tbody>
                  {table.columns.map((c) => (
                    <tr key={c.name} data-testid="schema-column" data-name={c.name} data-type={c.type}>
                      <td class="mono">{c.name}</td>
                      <td>{c.type}</td>
                      <td class="num">{c.empty}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {format === 'delimited' && (
                <>
                  <h4>
                    First {table.rows.length} rows{table.more ? '' : ' (the whole file)'}
                  </h4>
                  <table class="grid preview-table" data-testid="dataset-preview">
                    <thead>
                      <tr>
                        {table.columns.map((c) => (
                          <th key={c.name}>
                            {c.name}
                            <span class="col-type">{c.type}</span>
                          </th>
                        ))}
                      </tr>
                    </thead>
                    <tbody>
                      {table.rows.map((r, i) => (
                        <tr key={i} data-testid="preview-row">
                          {r.map((cell, j) => (
                            <td key={j} class={table.columns[j].type === 'integer' || table.columns[j].type === 'number' ? 'num' : ''}>
                              {cell}
                            </td>
                          ))}
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </>
              )}
            </>
          )}
        </>
      )}
    </section>
  );
}
