// Scales and colours for the sweep's parallel-coordinates plot: one vertical axis per parameter
// plus one for the primary metric. Numeric axes are linear (log when the parameter's expression
// says so, e.g. loguniform), choice/categorical axes place their values evenly.

export type Axis =
  | { kind: 'linear' | 'log'; name: string; min: number; max: number; pos: (v: string | number | null) => number | null }
  | { kind: 'categorical'; name: string; values: string[]; pos: (v: string | number | null) => number | null };

/** [min,max] → [0,1] (0.5 when min == max); null for non-numbers. */
export function linearScale(min: number, max: number): (v: number) => number | null {
  return (v: number) => {
    if (typeof v !== 'number' || !isFinite(v)) return null;
    if (max === min) return 0.5;
    return (v - min) / (max - min);
  };
}

/** Log scale for positive values; null for v <= 0. */
export function logScale(min: number, max: number): (v: number) => number | null {
  const lmin = Math.log10(min);
  const lmax = Math.log10(max);
  return (v: number) => {
    if (typeof v !== 'number' || !(v > 0) || !isFinite(v)) return null;
    if (lmax === lmin) return 0.5;
    return (Math.log10(v) - lmin) / (lmax - lmin);
  };
}

/** Values evenly spaced in the given order: first → 0, last → 1; a single value → 0.5. */
export function categoricalScale(values: string[]): (v: string) => number | null {
  const idx = new Map(values.map((v, i) => [v, i] as [string, number]));
  return (v: string) => {
    const i = idx.get(String(v));
    if (i === undefined) return null;
    return values.length === 1 ? 0.5 : i / (values.length - 1);
  };
}

function asNumber(v: string | number | null | undefined): number | null {
  if (v === null || v === undefined || v === '') return null;
  const n = typeof v === 'number' ? v : Number(v);
  return isFinite(n) ? n : null;
}

/**
 * An axis for a parameter from its values and its sweep expression (e.g. "loguniform(1e-5, 1e-1)",
 * "choice(16, 32, 64)", "uniform(0, 1)"). Numbers → linear (log when the expression name contains
 * "log" and all values are > 0); choice or non-numeric values → categorical (numeric choices in
 * numeric order).
 */
export function makeAxis(name: string, values: (string | number | null)[], expression = ''): Axis {
  const present = values.filter((v) => v !== null && v !== undefined && v !== '');
  const nums = present.map(asNumber);
  const allNumeric = present.length > 0 && nums.every((n) => n !== null);
  const fn = (/^\s*([A-Za-z_]+)/.exec(expression)?.[1] || '').toLowerCase();
  const isChoice = fn === 'choice' || fn === 'categorical';
  if (!allNumeric || isChoice) {
    const uniq = [...new Set(present.map((v) => String(v)))];
    if (allNumeric) uniq.sort((a, b) => Number(a) - Number(b));
    else uniq.sort();
    const sc = categoricalScale(uniq);
    return { kind: 'categorical', name, values: uniq, pos: (v) => (v === null ? null : sc(String(v))) };
  }
  const ns = nums as number[];
  const min = Math.min(...ns);
  const max = Math.max(...ns);
  if (fn.includes('log') && min > 0) {
    const sc = logScale(min, max);
    return { kind: 'log', name, min, max, pos: (v) => { const n = asNumber(v); return n === null ? null : sc(n); } };
  }
  const sc = linearScale(min, max);
  return { kind: 'linear', name, min, max, pos: (v) => { const n = asNumber(v); return n === null ? null : sc(n); } };
}

/**
 * Position of a metric value on a 0..1 "goodness" scale: 1 is the best trial (max for Maximize,
 * min for Minimize), 0 the worst; null for missing values.
 */
export function metricGoodness(
  values: (number | null)[],
  goal: string,
): (v: number | null) => number | null {
  const ns = values.filter((v): v is number => typeof v === 'number' && isFinite(v));
  const min = ns.length ? Math.min(...ns) : 0;
  const max = ns.length ? Math.max(...ns) : 1;
  const sc = linearScale(min, max);
  const maximize = String(goal).toLowerCase().startsWith('max');
  return (v) => {
    if (v === null || v === undefined || !isFinite(v)) return null;
    const t = sc(v) as number;
    return maximize ? t : 1 - t;
  };
}

// A perceptual ramp from poor (light orange) to good (deep blue).
const RAMP: [number, number, number][] = [
  [244, 165, 96],
  [230, 217, 120],
  [120, 190, 160],
  [49, 130, 189],
  [8, 64, 145],
];

/** t in [0,1] → "rgb(r,g,b)"; null → grey. */
export function rampColor(t: number | null): string {
  if (t === null || !isFinite(t)) return 'rgb(160,160,160)';
  const x = Math.min(1, Math.max(0, t)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(x));
  const f = x - i;
  const c = RAMP[i].map((a, k) => Math.round(a + (RAMP[i + 1][k] - a) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** Tick labels for an axis (up to n for numeric axes). */
export function axisTicks(axis: Axis, n = 5): { label: string; pos: number }[] {
  if (axis.kind === 'categorical') {
    return axis.values.map((v) => ({ label: v, pos: axis.pos(v) as number }));
  }
  const out: { label: string; pos: number }[] = [];
  if (axis.min === axis.max) return [{ label: fmt(axis.min), pos: 0.5 }];
  for (let i = 0; i < n; i++) {
    const t = i / (n - 1);
    const v =
      axis.kind === 'log'
        ? Math.pow(10, Math.log10(axis.min) + t * (Math.log10(axis.max) - Math.log10(axis.min)))
        : axis.min + t * (axis.max - axis.min);
    out.push({ label: fmt(v), pos: t });
  }
  return out;
}

function fmt(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(1);
  return String(Number(v.toPrecision(3)));
}

/** Is a canceled trial one that the early-termination policy stopped? */
export function stoppedByPolicy(t: { status?: string; reason?: string }): boolean {
  if (t.status !== 'Canceled' || !t.reason) return false;
  const r = t.reason.toLowerCase();
  return r.includes('early termination') || r.includes('policy');
}
