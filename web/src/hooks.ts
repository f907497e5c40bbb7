import { useEffect, useRef, useState } from 'preact/hooks';
import { errorMessage, onWorkspaceChanged } from './api';
import { parseHash, type Route } from './lib/router';

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseHash(location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

/** Calls fn (debounced) whenever the workspace stream says something changed. */
export function useWorkspaceChanged(fn: () => void, delayMs = 300) {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    let t: ReturnType<typeof setTimeout> | null = null;
    const off = onWorkspaceChanged(() => {
      if (t) clearTimeout(t);
      t = setTimeout(() => ref.current(), delayMs);
    });
    return () => {
      off();
      if (t) clearTimeout(t);
    };
  }, [delayMs]);
}

/**
 * A page's data: `fetch` now and whenever `deps` change, and again (debounced by `watchMs`)
 * when the workspace changes unless `watchMs` is null. `err` is the last failure's message;
 * a success clears it.
 */
export function useFetched<T>(
  fetch: () => Promise<T>,
  deps: unknown[],
  watchMs: number | null = 1000,
): { data: T | null; err: string; reload: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [err, setErr] = useState('');
  const reload = () =>
    fetch()
      .then((d) => {
        setData(d);
        setErr('');
      })
      .catch((e) => setErr(errorMessage(e)));
  useEffect(() => {
    reload();
  }, deps);
  useWorkspaceChanged(watchMs === null ? () => {} : reload, watchMs ?? 1000);
  return { data, err, reload };
}

/** Current time in seconds, ticking every `ms` (for live durations). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now() / 1000);
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now() / 1000), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** Sets location.hash without adding a history entry. */
export function replaceHash(h: string) {
  const url = location.pathname + location.search + h;
  history.replaceState(null, '', url);
  window.dispatchEvent(new HashChangeEvent('hashchange'));
}

export function useLocalStorage<T>(key: string, initial: T): [T, (v: T) => void] {
  const [v, setV] = useState<T>(() => {
    try {
      const s = localStorage.getItem(key);
      return s ? (JSON.parse(s) as T) : initial;
    } catch {
      return initial;
    }
  });
  const set = (nv: T) => {
    setV(nv);
    try {
      localStorage.setItem(key, JSON.stringify(nv));
    } catch {
      /* ignore */
    }
  };
  return [v, set];
}
