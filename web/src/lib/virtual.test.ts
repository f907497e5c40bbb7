import { describe, expect, it } from 'vitest';
import { pagesFor, pagesToEvict, rowTop, spacerHeight, visibleRange } from './virtual';

describe('virtual window', () => {
  it('shows the first rows at the top with overscan below only', () => {
    expect(visibleRange(0, 320, 32, 100000, 5)).toEqual({ start: 0, end: 16 });
  });

  it('follows the scroll position with overscan both sides', () => {
    // row 1000 at the top of a 640 px viewport: rows 1000..1020 visible
    expect(visibleRange(32000, 640, 32, 100000, 10)).toEqual({ start: 990, end: 1031 });
  });

  it('clamps at the end and for small totals', () => {
    expect(visibleRange(32 * 99990, 640, 32, 100000, 10)).toEqual({ start: 99980, end: 100000 });
    expect(visibleRange(0, 800, 32, 3, 10)).toEqual({ start: 0, end: 3 });
    expect(visibleRange(5000, 800, 32, 0, 10)).toEqual({ start: 0, end: 0 });
  });

  it('keeps the DOM small whatever the total', () => {
    const r = visibleRange(32 * 50000, 800, 32, 100000, 10);
    expect(r.end - r.start).toBeLessThan(60);
  });

  it('maps a range to the pages to fetch', () => {
    expect(pagesFor({ start: 0, end: 16 }, 200)).toEqual([0]);
    expect(pagesFor({ start: 190, end: 230 }, 200)).toEqual([0, 1]);
    expect(pagesFor({ start: 200, end: 400 }, 200)).toEqual([1]);
    expect(pagesFor({ start: 5, end: 5 }, 200)).toEqual([]);
  });

  it('sizes the spacer and rows', () => {
    expect(spacerHeight(100000, 32)).toBe(3200000);
    expect(rowTop(10, 32)).toBe(320);
  });

  it('evicts the pages farthest from the view', () => {
    expect(pagesToEvict([0, 1, 2, 50, 51], 50, 3).sort()).toEqual([0, 1]);
    expect(pagesToEvict([1, 2], 1, 5)).toEqual([]);
  });
});
