// All access to the Ferry REST API: the token, JSON requests, errors, and SSE streams.
import { cachedLoader, parseKinds } from './lib/attach';
import { reconnectBackoff } from './lib/backoff';
import { SseParser, type SseEvent } from './lib/sse';
import type {
  Artifact,
  AttachResult,
  Compute,
  ComputeKind,
  DatasetVersion,
  Datastore,
  DatastoreFile,
  Experiment,
  Health,
  MetricsResponse,
  RunValue,
  ModelFile,
  ModelVersion,
  Run,
  RunKeys,
  RunList,
  StatusEvent,
  Sweep,
} from './types';

const TOKEN_KEY = 'ferry.token';
const BASE = '/api/v1';

export function getToken(): string {
  try {
    return localStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

export function setToken(t: string) {
  localStorage.setItem(TOKEN_KEY, t.trim());
}

export function clearToken() {
  localStorage.removeItem(TOKEN_KEY);
}

/** "#token=…" in the URL: store it and go to the runs page. Returns true when it did. */
export function takeTokenFromHash(): boolean {
  const h = location.hash;
  if (!h.startsWith('#token=')) return false;
  let t = h.slice('#token='.length);
  const amp = t.indexOf('&');
  if (amp >= 0) t = t.slice(0, amp);
  try {
    t = decodeURIComponent(t);
  } catch {
    /* keep raw */
  }
  if (t) setToken(t);
  history.replaceState(null, '', location.pathname + location.search + '#/runs');
  return true;
}

/** An error answer of the API, with the server's code and message verbatim. */
export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public body?: any,
  ) {
    super(message);
  }
}

type AuthListener = (err: ApiError) => void;
const authListeners = new Set<AuthListener>();

/** Called when the token is missing or refused (401, or 403 on a read). */
export function onAuthFailure(fn: AuthListener): () => void {
  authListeners.add(fn);
  return () => authListeners.delete(fn);
}

function authFailed(err: ApiError) {
  authListeners.forEach((fn) => fn(err));
}

export function errorMessage(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

async function toError(res: Response, method: string, signal?: AbortSignal): Promise<ApiError> {
  let code = `HTTP ${res.status}`;
  let message = `${res.status} ${res.statusText || 'error'} from the Ferry server`;
  let body: any;
  try {
    const text = await res.text();
    try {
      body = JSON.parse(text);
      if (body?.error) {
        code = body.error.code || code;
        message = body.error.message || message;
      }
    } catch {
      if (text.trim()) message = text.trim().slice(0, 500);
    }
  } catch {
    /* ignore */
  }
  const err = new ApiError(res.status, code, message, body);
  if ((res.status === 401 || (res.status === 403 && method === 'GET')) && !signal?.aborted) authFailed(err);
  return err;
}

export type Query = Record<string, string | number | boolean | undefined | null> | [string, string][];

export function buildUrl(path: string, query?: Query): string {
  const q = new URLSearchParams();
  if (Array.isArray(query)) {
    for (const [k, v] of query) q.append(k, v);
  } else if (query) {
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') q.append(k, String(v));
  }
  const s = q.toString();
  return BASE + path + (s ? '?' + s : '');
}

function headers(extra?: Record<string, string>): Record<string, string> {
  const h: Record<string, string> = { ...extra };
  const t = getToken();
  if (t) h.Authorization = `Bearer ${t}`;
  return h;
}

async function send(method: string, path: string, query?: Query, body?: unknown, signal?: AbortSignal): Promise<Response> {
  if (!getToken()) {
    const err = new ApiError(401, 'Unauthenticated', 'no workspace token');
    authFailed(err);
    throw err;
  }
  let res: Response;
  try {
    res = await fetch(buildUrl(path, query), {
      method,
      headers: headers(body !== undefined ? { 'Content-Type': 'application/json' } : undefined),
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal,
    });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'Unavailable', `cannot reach the Ferry server (${errorMessage(e)}); is 'ferry server' running?`);
  }
  if (!res.ok) throw await toError(res, method, signal);
  return res;
}

export async function request<T>(method: string, path: string, query?: Query, body?: unknown, signal?: AbortSignal): Promise<T> {
  const res = await send(method, path, query, body, signal);
  const text = await res.text();
  if (!text) return {} as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(res.status, 'Internal', `the server answered ${path} with something that is not JSON`);
  }
}

const enc = encodeURIComponent;

export const api = {
  health: () => fetch(BASE + '/health').then((r) => r.json() as Promise<Health>),
  experiments: (signal?: AbortSignal) => request<{ experiments: Experiment[] }>('GET', '/experiments', undefined, signal),
  runs: (query: Query, signal?: AbortSignal) => request<RunList>('GET', '/runs', query, undefined, signal),
  runKeys: (experiment?: string) => request<RunKeys>('GET', '/runs/keys', { experiment }),
  run: (id: string, signal?: AbortSignal) => request<Run>('GET', `/runs/${enc(id)}`, undefined, undefined, signal),
  runHistory: (id: string) => request<{ history: StatusEvent[] }>('GET', `/runs/${enc(id)}/history`),
  cancelRun: (id: string) => request<unknown>('POST', `/runs/${enc(id)}/cancel`),
  metrics: (id: string, key: string, maxPoints: number, signal?: AbortSignal) =>
    request<MetricsResponse>('GET', `/runs/${enc(id)}/metrics`, { key, max_points: maxPoints }, undefined, signal),
  values: (id: string, signal?: AbortSignal) =>
    request<{ values: Record<string, RunValue[]> }>('GET', `/runs/${enc(id)}/values`, undefined, undefined, signal),
  async logs(id: string, rank: number, offset: number): Promise<{ bytes: Uint8Array; next: number }> {
    const res = await send('GET', `/runs/${enc(id)}/logs`, { rank, offset });
    const bytes = new Uint8Array(await res.arrayBuffer());
    const next = Number(res.headers.get('X-Ferry-Next-Offset') ?? offset + bytes.length);
    return { bytes, next };
  },
  artifacts: (id: string) => request<{ artifacts: Artifact[] }>('GET', `/runs/${enc(id)}/artifacts`),
  artifactLink: (id: string, path: string) => request<{ url: string }>('POST', `/runs/${enc(id)}/artifacts/link`, { path }),
  async blob(hash: string, signal?: AbortSignal): Promise<Uint8Array> {
    const res = await send('GET', `/blobs/${enc(hash)}`, undefined, undefined, signal);
    return new Uint8Array(await res.arrayBuffer());
  },
  sweep: (id: string, signal?: AbortSignal) => request<Sweep>('GET', `/sweeps/${enc(id)}`, undefined, undefined, signal),
  cancelSweep: (id: string) => request<unknown>('POST', `/sweeps/${enc(id)}/cancel`),
  computes: (signal?: AbortSignal) => request<{ computes: Compute[] }>('GET', '/computes', undefined, undefined, signal),
  compute: (name: string, signal?: AbortSignal) => request<Compute>('GET', `/computes/${enc(name)}`, undefined, undefined, signal),
  computeKinds: (signal?: AbortSignal) => request<unknown>('GET', '/compute-kinds', undefined, undefined, signal),
  attachCompute: (body: Record<string, unknown>) => request<AttachResult>('POST', '/computes', undefined, body),
  detachCompute: (name: string, force: boolean) =>
    request<{ canceled_runs?: number }>('DELETE', `/computes/${enc(name)}`, force ? { force: 'true' } : undefined),
  computeAction: (name: string, action: 'stop' | 'start' | 'trust') =>
    request<Record<string, unknown>>('POST', `/computes/${enc(name)}/${action}`),
  resizeCluster: (name: string, body: Record<string, number>) =>
    request<Record<string, unknown>>('PATCH', `/computes/${enc(name)}`, undefined, body),
  datastores: (signal?: AbortSignal) => request<{ datastores: Datastore[] }>('GET', '/datastores', undefined, undefined, signal),
  datastore: (name: string, signal?: AbortSignal) => request<Datastore>('GET', `/datastores/${enc(name)}`, undefined, undefined, signal),
  datastoreFiles: (name: string, prefix: string, signal?: AbortSignal) =>
    request<{ files: DatastoreFile[] }>('GET', `/datastores/${enc(name)}/files`, { prefix }, undefined, signal),
  /** A datastore file's bytes; size and modified_at (a dataset version's record) make the server refuse a changed file. */
  async datastoreContent(name: string, path: string, check?: { size: number; modified_at: number }, signal?: AbortSignal): Promise<Uint8Array> {
    const q: Query = { path };
    if (check) {
      q.size = check.size;
      q.modified_at = check.modified_at;
    }
    const res = await send('GET', `/datastores/${enc(name)}/content`, q, undefined, signal);
    return new Uint8Array(await res.arrayBuffer());
  },
  datasets: (includeArchived: boolean, signal?: AbortSignal) =>
    request<{ datasets: DatasetVersion[] }>('GET', '/datasets', includeArchived ? { include_archived: 'true' } : undefined, undefined, signal),
  datasetVersions: (name: string, signal?: AbortSignal) =>
    request<{ versions: DatasetVersion[] }>('GET', `/datasets/${enc(name)}`, undefined, undefined, signal),
  dataset: (name: string, version: number | string, signal?: AbortSignal) =>
    request<DatasetVersion>('GET', `/datasets/${enc(name)}/${enc(String(version))}`, undefined, undefined, signal),
  models: (signal?: AbortSignal) => request<{ models: ModelVersion[] }>('GET', '/models', undefined, undefined, signal),
  modelVersions: (name: string, signal?: AbortSignal) =>
    request<{ versions: ModelVersion[] }>('GET', `/models/${enc(name)}`, undefined, undefined, signal),
  model: (name: string, version: number | string, signal?: AbortSignal) =>
    request<ModelVersion>('GET', `/models/${enc(name)}/${enc(String(version))}`, undefined, undefined, signal),
  modelFiles: (name: string, version: number, signal?: AbortSignal) =>
    request<{ files: ModelFile[] }>('GET', `/models/${enc(name)}/${version}/files`, undefined, undefined, signal),
};

/** The server's kind table, fetched once per page load (a failed fetch is retried on the next call). */
export const loadComputeKinds: () => Promise<ComputeKind[]> = cachedLoader(() => api.computeKinds().then(parseKinds));

// ---- Server-sent event streams -------------------------------------------------------------

export interface StreamHandle {
  close(): void;
}

export interface StreamOptions {
  onEvent(ev: SseEvent): void;
  /** Called each time a connection is open (after a reconnect the server re-sends full state). */
  onOpen?(reconnect: boolean): void;
  /** Connection trouble (message), or null once connected again. */
  onStatus?(problem: string | null): void;
  /** A 4xx answer other than 401/403: the stream will not be retried. */
  onFatal?(err: ApiError): void;
  /** Return true from onEvent-time checks to stop (e.g. after `end`). */
  stopOn?: string[];
}

/**
 * GET an event stream with the Authorization header and parse it incrementally. Reconnects with
 * backoff (1 s → 10 s) on network errors, 5xx and a stream that ends, except after an event
 * named in stopOn (e.g. `end`) or a 4xx answer.
 */
export function openStream(path: string, query: Query | undefined, opts: StreamOptions): StreamHandle {
  let closed = false;
  let ctrl: AbortController | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const backoff = reconnectBackoff();
  let connectedOnce = false;

  const schedule = (why: string) => {
    if (closed) return;
    const wait = backoff.next();
    opts.onStatus?.(`${why}; reconnecting in ${Math.round(wait / 1000)} s`);
    timer = setTimeout(connect, wait);
  };

  const connect = async () => {
    if (closed) return;
    if (!getToken()) {
      authFailed(new ApiError(401, 'Unauthenticated', 'no workspace token'));
      return;
    }
    ctrl = new AbortController();
    let res: Response;
    try {
      res = await fetch(buildUrl(path, query), {
        headers: headers({ Accept: 'text/event-stream' }),
        signal: ctrl.signal,
        cache: 'no-store',
      });
    } catch {
      if (closed) return;
      schedule('lost the connection to the server');
      return;
    }
    if (!res.ok || !res.body) {
      const err = await toError(res, 'GET', ctrl.signal);
      if (res.status >= 400 && res.status < 500) {
        if (res.status !== 401 && res.status !== 403) opts.onFatal?.(err);
        return;
      }
      schedule(err.message);
      return;
    }
    backoff.reset();
    opts.onStatus?.(null);
    opts.onOpen?.(connectedOnce);
    connectedOnce = true;
    const parser = new SseParser();
    const decoder = new TextDecoder();
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const events = parser.push(decoder.decode(value, { stream: true }));
        for (const ev of events) {
          if (closed) return;
          opts.onEvent(ev);
          if (opts.stopOn?.includes(ev.event)) {
            closed = true;
            ctrl.abort();
            return;
          }
        }
      }
    } catch {
      if (closed) return;
    }
    schedule('the live stream ended');
  };

  connect();
  return {
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      ctrl?.abort();
    },
  };
}

// ---- The shared workspace stream -----------------------------------------------------------

type ChangeListener = () => void;
const changeListeners = new Set<ChangeListener>();
let workspaceStream: StreamHandle | null = null;

/** Subscribes to workspace `changed` events (one shared connection for the whole app). */
export function onWorkspaceChanged(fn: ChangeListener): () => void {
  changeListeners.add(fn);
  if (!workspaceStream) {
    workspaceStream = openStream('/stream', undefined, {
      onEvent(ev) {
        if (ev.event === 'changed') changeListeners.forEach((l) => l());
      },
      onOpen(reconnect) {
        // The server re-sends state on reconnect; refresh in case something was missed meanwhile.
        if (reconnect) changeListeners.forEach((l) => l());
      },
      onFatal() {
        workspaceStream = null; // e.g. a server without /stream: no live updates
      },
    });
  }
  return () => {
    changeListeners.delete(fn);
  };
}

/** Closes the shared stream (sign-out). */
export function closeWorkspaceStream() {
  workspaceStream?.close();
  workspaceStream = null;
}
