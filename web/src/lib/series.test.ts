import { describe, expect, it } from 'vitest';
import { SeriesStore, alignSeries, fromPoints, toNumber, toPlotValue } from './series';

describe('series store', () => {
  it('replaces a key on `series` and appends on `points`', () => {
    const s = new SeriesStore();
    s.applySeries({ key: 'loss', points: [{ step: 0, value: 1 }, { step: 1, value: 0.8 }], total: 10, downsampled: true });
    expect(s.plotData('loss')).toEqual([[0, 1], [1, 0.8]]);
    expect(s.get('loss')?.total).toBe(10);
    expect(s.get('loss')?.downsampled).toBe(true);
    s.applyPoints({ key: 'loss', points: [{ step: 2, value: 0.7 }] });
    expect(s.plotData('loss')[0]).toEqual([0, 1, 2]);
    expect(s.get('loss')?.total).toBe(11);
    s.applySeries({ key: 'loss', points: [{ step: 5, value: 0.1 }], total: 1, downsampled: false });
    expect(s.plotData('loss')).toEqual([[5], [0.1]]);
    expect(s.get('loss')?.downsampled).toBe(false);
  });

  it('creates a key on `points` before `series` and keeps steps sorted', () => {
    const s = new SeriesStore();
    s.applyPoints({ key: 'acc', points: [{ step: 3, value: 0.3 }, { step: 1, value: 0.1 }, { step: 2, value: 0.2 }] });
    expect(s.plotData('acc')).toEqual([[1, 2, 3], [0.1, 0.2, 0.3]]);
    expect(s.keys()).toEqual(['acc']);
  });

  it('turns nan/inf strings into gaps and counts them', () => {
    const s = new SeriesStore();
    s.applySeries({ key: 'x', points: [{ step: 0, value: 'nan' }, { step: 1, value: 'inf' }, { step: 2, value: '-inf' }, { step: 3, value: 2 }] });
    expect(s.plotData('x')[1]).toEqual([null, null, null, 2]);
    expect(s.get('x')?.nonFinite).toBe(3);
    expect(toPlotValue(Infinity)).toBeNull();
    expect(toPlotValue('1.5')).toBe(1.5);
    expect(toNumber('-inf')).toBe(-Infinity);
    expect(Number.isNaN(toNumber('nan'))).toBe(true);
  });

  it('aligns several series on the union of steps', () => {
    const a = fromPoints([{ step: 0, value: 1 }, { step: 2, value: 3 }]);
    const b = fromPoints([{ step: 1, value: 10 }, { step: 2, value: 'nan' }]);
    expect(alignSeries([a, b])).toEqual([
      [0, 1, 2],
      [1, null, 3],
      [null, 10, null],
    ]);
    expect(b.nonFinite).toBe(1);
  });
});
