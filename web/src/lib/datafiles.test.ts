import { describe, expect, it } from 'vitest';
import { crumbs, listDir, normalizeDir, parseDatasetManifest } from './datafiles';

const H = (c: string) => c.repeat(64);

describe('parseDatasetManifest', () => {
  it('reads a blob-store manifest', () => {
    const files = parseDatasetManifest(`644 12 ${H('a')} 2024/a.csv\n644 7 ${H('b')} b.csv\n`);
    expect(files).toEqual([
      { path: '2024/a.csv', size: 12, hash: H('a') },
      { path: 'b.csv', size: 7, hash: H('b') },
    ]);
  });

  it('reads an external datastore manifest', () => {
    const text = JSON.stringify({
      format: 'ferry-external-files/1',
      datastore: 'shared',
      files: [{ path: 'a.csv', source: 'raw/a.csv', size: 4, modified_at: 1700000000.5 }],
    });
    expect(parseDatasetManifest(text)).toEqual([{ path: 'a.csv', source: 'raw/a.csv', size: 4, modified_at: 1700000000.5 }]);
  });

  it('says what is wrong with a bad one', () => {
    expect(() => parseDatasetManifest('{"files": 3}')).toThrow(/no 'files'/);
    expect(() => parseDatasetManifest('{nope')).toThrow(/not valid JSON/);
    expect(() => parseDatasetManifest('bad line\n')).toThrow(/line 1/);
  });
});

describe('listDir', () => {
  const files = [
    { path: 'sales/2024/01/de.csv', size: 10, modified_at: 5 },
    { path: 'sales/2024/02/fr.csv', size: 20, modified_at: 7 },
    { path: 'sales/readme.txt', size: 3, modified_at: 1 },
    { path: 'sales2/x.csv', size: 1, modified_at: 9 },
    { path: 'top.csv', size: 2, modified_at: 2 },
  ];

  it('shows the root: directories first, then files', () => {
    expect(listDir(files, '').map((e) => [e.name, e.dir, e.files, e.size])).toEqual([
      ['sales', true, 3, 33],
      ['sales2', true, 1, 1],
      ['top.csv', false, 1, 2],
    ]);
  });

  it('shows a directory, leaving out prefix matches of other directories', () => {
    const e = listDir(files, 'sales/');
    expect(e.map((x) => x.path)).toEqual(['sales/2024', 'sales/readme.txt']);
    expect(e[0]).toEqual({ name: '2024', path: 'sales/2024', dir: true, size: 30, files: 2, modified_at: 7 });
    expect(listDir(files, 'sales/2024/02').map((x) => x.name)).toEqual(['fr.csv']);
  });
});

describe('paths', () => {
  it('normalizes directories and makes breadcrumbs', () => {
    expect(normalizeDir('/a/b/')).toBe('a/b');
    expect(crumbs('a/b')).toEqual([
      { name: '', path: '' },
      { name: 'a', path: 'a' },
      { name: 'b', path: 'a/b' },
    ]);
    expect(crumbs('')).toEqual([{ name: '', path: '' }]);
  });
});
