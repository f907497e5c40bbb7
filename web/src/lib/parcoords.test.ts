import { describe, expect, it } from 'vitest';
import {
  axisTicks,
  categoricalScale,
  linearScale,
  logScale,
  makeAxis,
  metricGoodness,
  rampColor,
  stoppedByPolicy,
} from './parcoords';

describe('parallel-coordinates scales', () => {
  it('maps linear, log and categorical values to 0..1', () => {
    expect(linearScale(0, 10)(2.5)).toBe(0.25);
    expect(linearScale(3, 3)(3)).toBe(0.5);
    expect(logScale(1e-4, 1e-1)(1e-2)).toBeCloseTo(2 / 3, 10);
    expect(logScale(1e-4, 1e-1)(0)).toBeNull();
    const c = categoricalScale(['adam', 'sgd', 'rmsprop']);
    expect([c('adam'), c('sgd'), c('rmsprop'), c('other')]).toEqual([0, 0.5, 1, null]);
    expect(categoricalScale(['only'])('only')).toBe(0.5);
  });

  it('picks the axis kind from values and expression', () => {
    const lr = makeAxis('lr', ['0.00001', '0.001', '0.1'], 'loguniform(1e-5, 1e-1)');
    expect(lr.kind).toBe('log');
    expect(lr.pos('0.001')).toBeCloseTo(0.5, 10); // 1e-5..1e-1, 1e-3 is the middle
    const d = makeAxis('dropout', ['0.1', '0.5', '0.3'], 'uniform(0, 0.5)');
    expect(d.kind).toBe('linear');
    expect(d.pos('0.3')).toBeCloseTo(0.5, 10);
    const bs = makeAxis('batch', ['64', '16', '32'], 'choice(16, 32, 64)');
    expect(bs.kind).toBe('categorical');
    expect(bs.kind === 'categorical' && bs.values).toEqual(['16', '32', '64']);
    expect(bs.pos('32')).toBe(0.5);
    const opt = makeAxis('opt', ['sgd', 'adam'], '');
    expect(opt.kind).toBe('categorical');
    expect(opt.pos(null)).toBeNull();
  });

  it('falls back to linear for log expressions with non-positive values', () => {
    expect(makeAxis('x', ['0', '1'], 'loguniform(0,1)').kind).toBe('linear');
  });

  it('colours by metric goodness according to the goal', () => {
    const vals = [0.2, 0.5, 0.8];
    const min = metricGoodness(vals, 'Minimize');
    const max = metricGoodness(vals, 'Maximize');
    expect(min(0.2)).toBe(1);
    expect(min(0.8)).toBe(0);
    expect(max(0.8)).toBe(1);
    expect(max(null)).toBeNull();
    expect(rampColor(0)).toBe('rgb(244,165,96)');
    expect(rampColor(1)).toBe('rgb(8,64,145)');
    expect(rampColor(null)).toBe('rgb(160,160,160)');
  });

  it('makes ticks', () => {
    const t = axisTicks(makeAxis('lr', ['0.001', '0.1'], 'loguniform(1e-3,1e-1)'), 3);
    expect(t.map((x) => x.label)).toEqual(['0.001', '0.01', '0.1']);
  });

  it('recognises trials stopped by the policy', () => {
    expect(stoppedByPolicy({ status: 'Canceled', reason: 'early termination: BanditPolicy: 0.9 is worse than …' })).toBe(true);
    expect(stoppedByPolicy({ status: 'Canceled', reason: 'the sweep was canceled' })).toBe(false);
    expect(stoppedByPolicy({ status: 'Failed', reason: 'early termination' })).toBe(false);
  });
});
