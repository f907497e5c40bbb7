// Metric series of a run, fed by the run stream's `series` (full replacement of one key) and
// `points` (append) events, turned into uPlot's column data. Values may be the strings "nan",
// "inf", "-inf": uPlot cannot scale to those, so they become null (a gap) and are counted.

export type RawValue = number | string | null;

export interface RawPoint {
  step: number;
  value: RawValue;
  time?: number;
}

export interface Series {
  key: string;
  steps: number[];
  values: (number | null)[];
  times: number[];
  total: number; // points the server holds (may exceed steps.length when downsampled)
  downsampled: boolean;
  nonFinite: number; // nan/inf values turned into gaps
  rev: number; // bumped on every change of this key
}

/** A wire value → a plottable number, or null for nan/inf/-inf/garbage. */
export function toPlotValue(v: RawValue | undefined): number | null {
  if (typeof v === 'number') return isFinite(v) ? v : null;
  if (typeof v === 'string') {
    const t = v.trim().toLowerCase();
    if (t === 'nan' || t === 'inf' || t === '-inf' || t === '+inf' || t === 'infinity' || t === '-infinity') return null;
    const n = Number(t);
    return t !== '' && isFinite(n) ? n : null;
  }
  return null;
}

/** A wire value → a JS number (NaN, ±Infinity kept) for display. */
export function toNumber(v: RawValue | undefined): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    const t = v.trim().toLowerCase();
    if (t === 'nan') return NaN;
    if (t === 'inf' || t === '+inf' || t === 'infinity') return Infinity;
    if (t === '-inf' || t === '-infinity') return -Infinity;
    return t === '' ? NaN : Number(t);
  }
  return NaN;
}

function isBad(v: RawValue | undefined): boolean {
  return toPlotValue(v) === null;
}

export class SeriesStore {
  private map = new Map<string, Series>();
  version = 0;

  keys(): string[] {
    return [...this.map.keys()].sort();
  }

  get(key: string): Series | undefined {
    return this.map.get(key);
  }

  /** `series` event: replaces the key's points. */
  applySeries(ev: { key: string; points: RawPoint[]; total?: number; downsampled?: boolean }): void {
    const s: Series = {
      key: ev.key,
      steps: [],
      values: [],
      times: [],
      total: 0,
      downsampled: !!ev.downsampled,
      nonFinite: 0,
      rev: (this.map.get(ev.key)?.rev ?? 0) + 1,
    };
    this.map.set(ev.key, s);
    this.appendTo(s, ev.points || []);
    s.total = Math.max(ev.total ?? 0, s.steps.length);
    this.version++;
  }

  /** `points` event: appends; a point whose step is below the last is inserted in order. */
  applyPoints(ev: { key: string; points: RawPoint[] }): void {
    let s = this.map.get(ev.key);
    if (!s) {
      s = { key: ev.key, steps: [], values: [], times: [], total: 0, downsampled: false, nonFinite: 0, rev: 0 };
      this.map.set(ev.key, s);
    }
    const before = s.steps.length;
    this.appendTo(s, ev.points || []);
    s.total += s.steps.length - before;
    s.rev++;
    this.version++;
  }

  private appendTo(s: Series, pts: RawPoint[]) {
    for (const p of pts) {
      const step = Number(p.step);
      const v = toPlotValue(p.value);
      if (isBad(p.value)) s.nonFinite++;
      const n = s.steps.length;
      if (n === 0 || step >= s.steps[n - 1]) {
        s.steps.push(step);
        s.values.push(v);
        s.times.push(p.time ?? 0);
      } else {
        // Binary search the insertion point (after equal steps, so order is stable).
        let lo = 0;
        let hi = n;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (s.steps[mid] <= step) lo = mid + 1;
          else hi = mid;
        }
        s.steps.splice(lo, 0, step);
        s.values.splice(lo, 0, v);
        s.times.splice(lo, 0, p.time ?? 0);
      }
    }
  }

  /** uPlot data for one key: [steps, values]. */
  plotData(key: string): [number[], (number | null)[]] {
    const s = this.map.get(key);
    return s ? [s.steps, s.values] : [[], []];
  }

  clear() {
    this.map.clear();
    this.version++;
  }
}

/**
 * Several series on one x axis (uPlot wants one shared, sorted x array): the union of steps,
 * with null where a series has no point at a step. Duplicate steps within a series keep the last.
 */
export function alignSeries(list: { steps: number[]; values: (number | null)[] }[]): (number | null)[][] {
  const xs = new Set<number>();
  for (const s of list) for (const x of s.steps) xs.add(x);
  const x = [...xs].sort((a, b) => a - b);
  const pos = new Map<number, number>();
  x.forEach((v, i) => pos.set(v, i));
  const out: (number | null)[][] = [x];
  for (const s of list) {
    const col: (number | null)[] = new Array(x.length).fill(null);
    for (let i = 0; i < s.steps.length; i++) col[pos.get(s.steps[i]) as number] = s.values[i];
    out.push(col);
  }
  return out;
}

/** Points from GET /runs/{id}/metrics → steps/values. */
export function fromPoints(points: RawPoint[]): { steps: number[]; values: (number | null)[]; nonFinite: number } {
  const st = new SeriesStore();
  st.applySeries({ key: 'k', points });
  const s = st.get('k') as Series;
  return { steps: s.steps, values: s.values, nonFinite: s.nonFinite };
}
