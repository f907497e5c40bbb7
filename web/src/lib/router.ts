// A tiny hash router: "#/runs", "#/runs/<id>", "#/compare?runs=a,b&metric=loss", …

export type Route =
  | { page: 'runs'; experiment?: string; query: URLSearchParams }
  | { page: 'run'; id: string; query: URLSearchParams }
  | { page: 'compare'; query: URLSearchParams }
  | { page: 'sweep'; id: string; query: URLSearchParams }
  | { page: 'computes'; query: URLSearchParams }
  | { page: 'compute'; name: string; query: URLSearchParams }
  | { page: 'experiments'; query: URLSearchParams }
  | { page: 'datastores'; query: URLSearchParams }
  | { page: 'datastore'; name: string; query: URLSearchParams }
  | { page: 'datasets'; query: URLSearchParams }
  | { page: 'dataset'; name: string; query: URLSearchParams }
  | { page: 'dataset-version'; name: string; version: string; query: URLSearchParams }
  | { page: 'models'; query: URLSearchParams }
  | { page: 'model'; name: string; query: URLSearchParams }
  | { page: 'model-version'; name: string; version: string; query: URLSearchParams }
  | { page: 'notfound'; path: string; query: URLSearchParams };

export function parseHash(hash: string): Route {
  let h = hash.replace(/^#/, '');
  if (!h.startsWith('/')) h = '/' + h;
  const qi = h.indexOf('?');
  const path = qi >= 0 ? h.slice(0, qi) : h;
  const query = new URLSearchParams(qi >= 0 ? h.slice(qi + 1) : '');
  const seg = path
    .split('/')
    .filter((s) => s !== '')
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
  if (seg.length === 0) return { page: 'runs', query };
  const [a, b, c] = seg;
  switch (a) {
    case 'runs':
      return b ? { page: 'run', id: b, query } : { page: 'runs', query };
    case 'compare':
      return { page: 'compare', query };
    case 'sweeps':
      if (b) return { page: 'sweep', id: b, query };
      break;
    case 'compute':
    case 'computes':
      return b ? { page: 'compute', name: b, query } : { page: 'computes', query };
    case 'experiments':
      return b ? { page: 'runs', experiment: b, query } : { page: 'experiments', query };
    case 'datastores':
      if (seg.length <= 2) return b ? { page: 'datastore', name: b, query } : { page: 'datastores', query };
      break;
    case 'datasets':
      if (seg.length <= 3)
        return c ? { page: 'dataset-version', name: b, version: c, query } : b ? { page: 'dataset', name: b, query } : { page: 'datasets', query };
      break;
    case 'models':
      if (seg.length <= 3)
        return c ? { page: 'model-version', name: b, version: c, query } : b ? { page: 'model', name: b, query } : { page: 'models', query };
      break;
  }
  return { page: 'notfound', path, query };
}

/** "#/runs/" + encoded id etc. */
export const href = {
  runs: (query = '') => `#/runs${query ? '?' + query : ''}`,
  run: (id: string, tab?: string) => `#/runs/${encodeURIComponent(id)}${tab ? '?tab=' + tab : ''}`,
  sweep: (id: string) => `#/sweeps/${encodeURIComponent(id)}`,
  compare: (ids: string[], metric?: string) =>
    `#/compare?runs=${ids.map(encodeURIComponent).join(',')}${metric ? '&metric=' + encodeURIComponent(metric) : ''}`,
  computes: () => '#/compute',
  compute: (name: string) => `#/compute/${encodeURIComponent(name)}`,
  experiments: () => '#/experiments',
  experiment: (name: string, query = '') => `#/experiments/${encodeURIComponent(name)}${query ? '?' + query : ''}`,
  datastores: () => '#/datastores',
  /** A datastore's files in directory dir ("" its root). */
  datastore: (name: string, dir = '') =>
    `#/datastores/${encodeURIComponent(name)}${dir ? '?prefix=' + encodeURIComponent(dir) : ''}`,
  datasets: (archived = false) => `#/datasets${archived ? '?archived=1' : ''}`,
  dataset: (name: string) => `#/datasets/${encodeURIComponent(name)}`,
  datasetVersion: (name: string, version: number | string) => `#/datasets/${encodeURIComponent(name)}/${encodeURIComponent(String(version))}`,
  models: () => '#/models',
  model: (name: string) => `#/models/${encodeURIComponent(name)}`,
  modelVersion: (name: string, version: number | string) => `#/models/${encodeURIComponent(name)}/${encodeURIComponent(String(version))}`,
};

/** Link to a run: sweeps go to their sweep page. */
export function runHref(r: { id: string; kind?: string }): string {
  return r.kind === 'sweep' ? href.sweep(r.id) : href.run(r.id);
}
