import { describe, expect, it } from 'vitest';
import { inferType, previewDelimited, previewJsonLines, splitDelimited } from './tabular';

describe('splitDelimited', () => {
  it('splits fields and records, with CRLF and a missing last line end', () => {
    expect(splitDelimited('a,b\r\n1,x\n2,y', ',', 10).records).toEqual([
      ['a', 'b'],
      ['1', 'x'],
      ['2', 'y'],
    ]);
  });

  it('keeps separators, newlines and doubled quotes inside quoted fields', () => {
    const { records } = splitDelimited('name,note\n"Smith, J","said ""hi""\nthen left"\n', ',', 10);
    expect(records).toEqual([
      ['name', 'note'],
      ['Smith, J', 'said "hi"\nthen left'],
    ]);
  });

  it('uses the given separator, tabs or several characters', () => {
    expect(splitDelimited('a\tb\n1\t2\n', '\t', 10).records).toEqual([
      ['a', 'b'],
      ['1', '2'],
    ]);
    expect(splitDelimited('a||b\n', '||', 10).records).toEqual([['a', 'b']]);
  });

  it('stops after maxRecords and says more follow', () => {
    const r = splitDelimited('a\n1\n2\n3\n', ',', 2);
    expect(r.records).toEqual([['a'], ['1']]);
    expect(r.more).toBe(true);
    expect(splitDelimited('a\n1\n', ',', 2).more).toBe(false);
  });

  it('drops a cut last record of a file head', () => {
    const r = splitDelimited('a,b\n1,x\n2,y', ',', 10, false);
    expect(r.records).toEqual([
      ['a', 'b'],
      ['1', 'x'],
    ]);
    expect(r.more).toBe(true);
  });

  it('skips a byte-order mark', () => {
    expect(splitDelimited('\ufeffa,b\n', ',', 10).records).toEqual([['a', 'b']]);
  });
});

describe('inferType', () => {
  it('guesses integer, number, boolean and string, ignoring empty values', () => {
    expect(inferType(['1', '-2', '+30', ''])).toBe('integer');
    expect(inferType(['1', '2.5', '1e-3', '.5'])).toBe('number');
    expect(inferType(['true', 'False', 'TRUE'])).toBe('boolean');
    expect(inferType(['1', 'x'])).toBe('string');
    expect(inferType(['1', 'true'])).toBe('string');
    expect(inferType(['', ' '])).toBe('string');
    expect(inferType(['1.2.3'])).toBe('string');
  });
});

describe('previewDelimited', () => {
  const csv = 'sepal_length,species,ok,n\n5.1,setosa,true,1\n4.9,setosa,false,\n6.2,virginica,true,3\n';

  it('reads the header and a type per column', () => {
    const t = previewDelimited(csv);
    expect(t.columns).toEqual([
      { name: 'sepal_length', type: 'number', empty: 0 },
      { name: 'species', type: 'string', empty: 0 },
      { name: 'ok', type: 'boolean', empty: 0 },
      { name: 'n', type: 'integer', empty: 1 },
    ]);
    expect(t.rows).toHaveLength(3);
    expect(t.rows[1]).toEqual(['4.9', 'setosa', 'false', '']);
    expect(t.more).toBe(false);
  });

  it('names columns 0, 1, … without a header, as pandas does', () => {
    const t = previewDelimited('1;a\n2;b\n', { separator: ';', header: false });
    expect(t.columns.map((c) => c.name)).toEqual(['0', '1']);
    expect(t.columns.map((c) => c.type)).toEqual(['integer', 'string']);
    expect(t.rows).toEqual([
      ['1', 'a'],
      ['2', 'b'],
    ]);
  });

  it('keeps at most maxRows rows and pads short ones', () => {
    const t = previewDelimited('a,b\n1\n2,3\n4,5\n', { maxRows: 2 });
    expect(t.rows).toEqual([
      ['1', ''],
      ['2', '3'],
    ]);
    expect(t.more).toBe(true);
  });

  it('names blank and repeated headers as pandas does', () => {
    const t = previewDelimited('a,,a\n1,2,3\n');
    expect(t.columns.map((c) => c.name)).toEqual(['a', 'Unnamed: 1', 'a.1']);
  });

  it('reads an empty file as no columns', () => {
    expect(previewDelimited('')).toEqual({ columns: [], rows: [], more: false });
  });
});

describe('previewJsonLines', () => {
  it('collects keys in order of appearance with merged types', () => {
    const t = previewJsonLines('{"k": 1, "name": "a"}\n\n{"k": 2.5, "flag": true, "tags": [1]}\n{"k": null}\n');
    expect(t.columns).toEqual([
      { name: 'k', type: 'number', empty: 1 },
      { name: 'name', type: 'string', empty: 2 },
      { name: 'flag', type: 'boolean', empty: 2 },
      { name: 'tags', type: 'object', empty: 2 },
    ]);
    expect(t.rows[1]).toEqual(['2.5', '', 'true', '[1]']);
  });

  it('names the line that is not a JSON object', () => {
    expect(() => previewJsonLines('{"a": 1}\nnope\n')).toThrow(/line 2/);
    expect(() => previewJsonLines('[1, 2]\n')).toThrow(/line 1 is not a JSON object/);
  });

  it('ignores a cut last line of a file head and stops at maxRows', () => {
    const t = previewJsonLines('{"a": 1}\n{"a": 2}\n{"a": 3', { complete: false });
    expect(t.rows).toEqual([['1'], ['2']]);
    expect(t.more).toBe(true);
    expect(previewJsonLines('{"a": 1}\n{"a": 2}\n', { maxRows: 1 }).rows).toEqual([['1']]);
  });
});
