import { describe, expect, it } from 'vitest';
import {
  DEFAULT_FILTERS,
  filtersFromQuery,
  filtersToApiParams,
  filtersToQuery,
  parseKVList,
  parseMetricFilter,
  toggleSort,
  validateFilters,
} from './filters';

describe('metric filter parsing', () => {
  it('parses every operator', () => {
    expect(parseMetricFilter('loss<0.5')).toEqual({ key: 'loss', op: '<', value: 0.5 });
    expect(parseMetricFilter(' acc >= 0.9 ')).toEqual({ key: 'acc', op: '>=', value: 0.9 });
    expect(parseMetricFilter('val/loss<=1e-3')).toEqual({ key: 'val/loss', op: '<=', value: 0.001 });
    expect(parseMetricFilter('epoch=3')).toEqual({ key: 'epoch', op: '=', value: 3 });
    expect(parseMetricFilter('x>-2')).toEqual({ key: 'x', op: '>', value: -2 });
  });

  it('rejects bad input with a message that shows the right form', () => {
    expect(() => parseMetricFilter('loss')).toThrow('metric filter must look like loss<0.5');
    expect(() => parseMetricFilter('<0.5')).toThrow('metric filter must look like loss<0.5');
    expect(() => parseMetricFilter('loss<abc')).toThrow(/'abc' is not a number/);
    expect(() => parseMetricFilter('loss<')).toThrow('metric filter must look like loss<0.5');
  });

  it('parses k=v lists', () => {
    expect(parseKVList('team=nlp, size = big', 'tag')).toEqual([
      { key: 'team', value: 'nlp' },
      { key: 'size', value: 'big' },
    ]);
    expect(() => parseKVList('oops', 'param')).toThrow(/param filter must look like lr=0.01/);
  });
});

describe('filters ↔ query string', () => {
  it('round-trips through the hash query', () => {
    const f = {
      ...DEFAULT_FILTERS,
      status: 'Running',
      target: 'gpu-box',
      tag: 'team=nlp',
      param: 'lr=0.01',
      metric: 'loss<0.5',
      sort: 'metric:loss',
      order: 'asc' as const,
    };
    const q = filtersToQuery(f);
    expect(q).toContain('metric=loss%3C0.5');
    expect(filtersFromQuery(q)).toEqual(f);
    expect(filtersFromQuery('?' + q)).toEqual(f);
  });

  it('leaves defaults out and restores them', () => {
    expect(filtersToQuery(DEFAULT_FILTERS)).toBe('');
    expect(filtersFromQuery('')).toEqual(DEFAULT_FILTERS);
    expect(filtersFromQuery('order=sideways').order).toBe('desc');
  });

  it('builds API parameters', () => {
    const p = filtersToApiParams({
      ...DEFAULT_FILTERS,
      experiment: 'mnist',
      tag: 'team=nlp',
      param: 'lr=0.01',
      metric: 'loss<0.5, acc>=0.9',
    });
    expect(p).toEqual([
      ['experiment', 'mnist'],
      ['tag.team', 'nlp'],
      ['param.lr', '0.01'],
      ['metric.loss', '<0.5'],
      ['metric.acc', '>=0.9'],
      ['sort', 'created'],
      ['order', 'desc'],
    ]);
  });

  it('skips invalid free-text filters in API params and reports them', () => {
    const f = { ...DEFAULT_FILTERS, metric: 'loss' };
    expect(filtersToApiParams(f).some(([k]) => k.startsWith('metric.'))).toBe(false);
    expect(validateFilters(f).metric).toMatch(/metric filter must look like loss<0.5/);
    expect(validateFilters(DEFAULT_FILTERS)).toEqual({});
  });

  it('toggles sort', () => {
    const a = toggleSort(DEFAULT_FILTERS, 'created');
    expect(a.order).toBe('asc');
    const b = toggleSort(a, 'param:lr');
    expect([b.sort, b.order]).toEqual(['param:lr', 'desc']);
  });
});
