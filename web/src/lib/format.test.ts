import { describe, expect, it } from 'vitest';
import { formatBytes, formatCount, formatDuration, formatMetric, formatTime, plural, runDuration } from './format';
import { parseHash, href } from './router';
import { filtersFromQuery, filtersToQuery } from './filters';

describe('formatting', () => {
  it('counts nouns', () => {
    expect(plural(1, 'file')).toBe('1 file');
    expect(plural(2000, 'file')).toBe('2,000 files');
    expect(plural(0, 'version')).toBe('0 versions');
  });

  it('formats durations', () => {
    expect(formatDuration(0.25)).toBe('250 ms');
    expect(formatDuration(4.56)).toBe('4.5 s');
    expect(formatDuration(42)).toBe('42 s');
    expect(formatDuration(185)).toBe('3m 05s');
    expect(formatDuration(7380)).toBe('2h 03m');
    expect(formatDuration(3 * 86400 + 4 * 3600)).toBe('3d 04h');
    expect(formatDuration(-1)).toBe('—');
    expect(runDuration(0, 0, 100)).toBe('');
    expect(runDuration(100, 0, 130)).toBe('30 s');
    expect(runDuration(100, 160, 1000)).toBe('1m 00s');
  });

  it('formats times, sizes, counts and metric values', () => {
    expect(formatTime(0)).toBe('—');
    const t = new Date(2024, 0, 2, 3, 4, 5).getTime() / 1000;
    expect(formatTime(t)).toBe('2024-01-02 03:04:05');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(200 * 1024 * 1024)).toBe('200 MiB');
    expect(formatCount(100000)).toBe('100,000');
    expect(formatCount(999)).toBe('999');
    expect(formatMetric(0.123456789)).toBe('0.12346');
    expect(formatMetric('nan')).toBe('nan');
    expect(formatMetric(1e-7)).toBe('1.000e-7');
  });
});

describe('router', () => {
  it('parses routes', () => {
    expect(parseHash('#/runs').page).toBe('runs');
    expect(parseHash('').page).toBe('runs');
    const r = parseHash('#/runs/default_1_ab?tab=logs');
    expect(r.page === 'run' && r.id).toBe('default_1_ab');
    expect(r.query.get('tab')).toBe('logs');
    const c = parseHash('#/compare?runs=a,b&metric=loss');
    expect(c.page).toBe('compare');
    expect(c.query.get('runs')).toBe('a,b');
    const e = parseHash('#/experiments/mnist?status=Failed');
    expect(e.page === 'runs' && e.experiment).toBe('mnist');
    expect(parseHash('#/compute/gpu%20box').page).toBe('compute');
    expect(parseHash('#/sweeps/s1').page).toBe('sweep');
    expect(parseHash('#/nope').page).toBe('notfound');
    expect(href.compare(['a', 'b'], 'loss')).toBe('#/compare?runs=a,b&metric=loss');
  });

  // Experiment names are MLflow's: any text. Each must come back whole from its own link,
  // with or without a filter query, and through the run list's filters.
  it('round-trips experiment names with spaces, slashes, #, ? and %', () => {
    for (const name of ['My Experiment', 'team/vision', 'a#b', 'what?', '100%', '50%25 off', ' a/b#c?d%e&f=g+h ', '实验']) {
      const plain = parseHash(href.experiment(name));
      expect(plain.page === 'runs' && plain.experiment).toBe(name);
      const q = filtersToQuery({ ...filtersFromQuery(''), status: 'Failed' });
      const withQuery = parseHash(href.experiment(name, q));
      expect(withQuery.page === 'runs' && withQuery.experiment).toBe(name);
      expect(withQuery.query.get('status')).toBe('Failed');
      const viaFilter = parseHash(href.runs(filtersToQuery({ ...filtersFromQuery(''), experiment: name })));
      expect(filtersFromQuery(viaFilter.query).experiment).toBe(name);
      const link = href.experiment(name);
      expect(link.slice(1)).not.toMatch(/[#? ]/); // nothing a browser would cut the hash at
    }
  });
});
