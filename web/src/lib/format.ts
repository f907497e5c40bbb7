// Formatting of times, durations, sizes and numbers for tables and cards.

/** "850 ms", "12 s", "3m 05s", "2h 03m", "3d 04h"; "—" for negative/NaN. */
export function formatDuration(seconds: number): string {
  if (!isFinite(seconds) || seconds < 0) return '—';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) {
    return seconds < 10 ? `${(Math.floor(seconds * 10) / 10).toFixed(1)} s` : `${Math.floor(seconds)} s`;
  }
  const s = Math.floor(seconds);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d ${pad(Math.floor((s % 86400) / 3600))}h`;
}

/** Duration of a run: ended - started, or now - started while active; "" when not started. */
export function runDuration(started: number, ended: number, now: number): string {
  if (!started) return '';
  const end = ended || now;
  return formatDuration(Math.max(0, end - started));
}

/** Local "YYYY-MM-DD HH:MM:SS"; "—" for 0 (the API's "not yet"). */
export function formatTime(epochSeconds: number | null | undefined): string {
  if (!epochSeconds) return '—';
  const d = new Date(epochSeconds * 1000);
  if (isNaN(d.getTime())) return '—';
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(
    d.getSeconds(),
  )}`;
}

/** "3 s ago", "5 min ago", "2 h ago", "4 d ago". */
export function formatAgo(epochSeconds: number, now: number): string {
  if (!epochSeconds) return '—';
  const d = Math.max(0, now - epochSeconds);
  if (d < 60) return `${Math.floor(d)} s ago`;
  if (d < 3600) return `${Math.floor(d / 60)} min ago`;
  if (d < 86400) return `${Math.floor(d / 3600)} h ago`;
  return `${Math.floor(d / 86400)} d ago`;
}

export function formatBytes(n: number | null | undefined): string {
  if (n == null || !isFinite(n)) return '—';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** 100000 → "100,000". */
export function formatCount(n: number): string {
  return String(Math.trunc(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Metric values: numbers with up to 5 significant digits; the API's "nan"/"inf" strings as is. */
export function formatMetric(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v !== 'number') return String(v);
  if (!isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e12) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-4 || a >= 1e9)) return v.toExponential(3);
  return String(Number(v.toPrecision(5)));
}

/** "1 file", "2,000 files". */
export function plural(n: number, noun: string): string {
  return `${formatCount(n)} ${noun}${n === 1 ? '' : 's'}`;
}
