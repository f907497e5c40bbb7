// Window math for the virtualised runs table: fixed row height, only the rows in view plus an
// overscan are in the DOM, and rows come from the server in pages of `pageSize`.

export interface Range {
  start: number; // first row index (inclusive)
  end: number; // last row index (exclusive)
}

/** Rows to render for a scroll position; clamped to [0, total). */
export function visibleRange(
  scrollTop: number,
  viewportHeight: number,
  rowHeight: number,
  total: number,
  overscan = 10,
): Range {
  if (total <= 0 || rowHeight <= 0) return { start: 0, end: 0 };
  const first = Math.floor(Math.max(0, scrollTop) / rowHeight);
  const count = Math.ceil(Math.max(0, viewportHeight) / rowHeight) + 1;
  const start = Math.max(0, Math.min(total, first - overscan));
  const end = Math.max(start, Math.min(total, first + count + overscan));
  return { start, end };
}

/** Page indices (0-based) that hold rows [range.start, range.end). */
export function pagesFor(range: Range, pageSize: number): number[] {
  if (range.end <= range.start) return [];
  const first = Math.floor(range.start / pageSize);
  const last = Math.floor((range.end - 1) / pageSize);
  const out: number[] = [];
  for (let p = first; p <= last; p++) out.push(p);
  return out;
}

/** Height of the spacer that gives the scroll container its full scroll range. */
export function spacerHeight(total: number, rowHeight: number): number {
  return Math.max(0, total) * rowHeight;
}

/** Row index → top offset in px (inside the spacer). */
export function rowTop(index: number, rowHeight: number): number {
  return index * rowHeight;
}

/** Pages to drop from a cache so it keeps at most `keep` pages, the ones farthest from `center`. */
export function pagesToEvict(cached: number[], center: number, keep: number): number[] {
  if (cached.length <= keep) return [];
  const sorted = [...cached].sort((a, b) => Math.abs(b - center) - Math.abs(a - center) || b - a);
  return sorted.slice(0, cached.length - keep);
}
