// Datastores: the list, and a datastore's files a directory at a time.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, errorMessage } from '../api';
import { Code, Empty, ErrorBox, Loading } from '../components/common';
import { crumbs, listDir, normalizeDir } from '../lib/datafiles';
import { formatBytes, formatCount, formatTime } from '../lib/format';
import { href } from '../lib/router';
import { useFetched } from '../hooks';
import type { Datastore, DatastoreFile } from '../types';

/** Where a datastore's files are, in words. */
export function datastoreWhere(d: Datastore): string {
  if (d.default || d.kind === 'blob') return "the workspace's blob store";
  return d.path || '—';
}

export function DatastoresPage() {
  const {
    data: list,
    err,
    reload: load,
  } = useFetched(() => api.datastores().then((r): Datastore[] => r.datastores || []), [], null);
  return (
    <div class="page">
      <div class="page-head">
        <h1>Datastores</h1>
      </div>
      {err && <ErrorBox message={err} onRetry={load} />}
      {!list && !err && <Loading />}
      {list && list.length === 0 && <Empty>No datastores.</Empty>}
      {list && list.length > 0 && (
        <div class="card scroll-x">
          <table class="grid" data-testid="datastores-table">
            <thead>
              <tr>
                <th>name</th>
                <th>kind</th>
                <th>where</th>
                <th>mounts (target = path there)</th>
                <th>registered</th>
              </tr>
            </thead>
            <tbody>
              {list.map((d) => (
                <tr key={d.name} data-testid="datastore-row" data-name={d.name} class="clickable" onClick={() => (location.hash = href.datastore(d.name))}>
                  <td>
                    <a href={href.datastore(d.name)} onClick={(e) => e.stopPropagation()}>
                      {d.name}
                    </a>
                    {d.default && <span class="badge st-muted inline">default</span>}
                  </td>
                  <td>{d.kind}</td>
                  <td class={d.default ? '' : 'mono'}>{datastoreWhere(d)}</td>
                  <td class="mono">
                    {Object.entries(d.mounts || {})
                      .map(([t, p]) => `${t} = ${p}`)
                      .join(', ') || <span class="muted">—</span>}
                  </td>
                  <td>{d.created_at ? formatTime(d.created_at) : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p class="muted small">
        Register a shared directory with <Code>ferry datastore register NAME --path DIR</Code>; upload files with{' '}
        <Code>ferry datastore upload</Code> (docs/data.md).
      </p>
    </div>
  );
}

export function DatastorePage({ name, query }: { name: string; query: URLSearchParams }) {
  const dir = normalizeDir(query.get('prefix') || '');
  const [store, setStore] = useState<Datastore | null>(null);
  const [files, setFiles] = useState<DatastoreFile[] | null>(null);
  const [err, setErr] = useState('');
  useEffect(() => {
    const ctrl = new AbortController();
    api
      .datastore(name, ctrl.signal)
      .then(setStore)
      .catch((e) => (e as Error).name !== 'AbortError' && setErr(errorMessage(e)));
    return () => ctrl.abort();
  }, [name]);
  useEffect(() => {
    const ctrl = new AbortController();
    setFiles(null);
    api
      .datastoreFiles(name, dir, ctrl.signal)
      .then((r) => {
        setFiles(r.files || []);
        setErr('');
      })
      .catch((e) => (e as Error).name !== 'AbortError' && setErr(errorMessage(e)));
    return () => ctrl.abort();
  }, [name, dir]);
  const entries = useMemo(() => (files ? listDir(files, dir) : []), [files, dir]);
  const trail = crumbs(dir);
  return (
    <div class="page">
      <div class="page-head">
        <div class="title-block">
          <h1>{name}</h1>
          <div class="meta">
            <a href={href.datastores()}>Datastores</a>
            {store && <span>{store.kind}</span>}
            {store && <span class={store.default ? '' : 'mono'}>{datastoreWhere(store)}</span>}
            {store &&
              Object.entries(store.mounts || {}).map(([t, p]) => (
                <span key={t} class="mono">
                  on {t}: {p}
                </span>
              ))}
          </div>
        </div>
      </div>
      <nav class="crumbs" data-testid="datastore-crumbs">
        {trail.map((c, i) => (
          <span key={c.path}>
            {i > 0 && ' / '}
            {i === trail.length - 1 ? <b>{c.name || name}</b> : <a href={href.datastore(name, c.path)}>{c.name || name}</a>}
          </span>
        ))}
      </nav>
      {err && <ErrorBox message={err} />}
      {!files && !err && <Loading what="Listing the files" />}
      {files && entries.length === 0 && (
        <Empty>{dir ? `Nothing under '${dir}'.` : 'This datastore has no files yet.'}</Empty>
      )}
      {files && entries.length > 0 && (
        <div class="card scroll-x">
          <table class="grid" data-testid="datastore-files">
            <thead>
              <tr>
                <th>name</th>
                <th class="num">files</th>
                <th class="num">size</th>
                <th>modified</th>
              </tr>
            </thead>
            <tbody>
              {dir && (
                <tr>
                  <td colSpan={4}>
                    <a href={href.datastore(name, trail[trail.length - 2]?.path || '')}>..</a>
                  </td>
                </tr>
              )}
              {entries.map((e) => (
                <tr key={e.path} data-testid="datastore-entry" data-path={e.path} data-dir={e.dir ? '1' : '0'}>
                  <td class="mono">{e.dir ? <a href={href.datastore(name, e.path)}>{e.name}/</a> : e.name}</td>
                  <td class="num">{e.dir ? formatCount(e.files) : ''}</td>
                  <td class="num">{formatBytes(e.size)}</td>
                  <td>{e.modified_at ? formatTime(e.modified_at) : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
