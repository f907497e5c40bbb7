import { describe, expect, it } from 'vitest';
import type { RunValue } from '../types';
import { columnsTable, confusionTable, rowsTable, valueViews } from './runvalues';

const v = (type: string, value: unknown, step = 0): RunValue => ({ type, value, step, time: 1 });

describe('valueViews', () => {
  it('shows strings as text, rows and tables as tables, images as images', () => {
    const views = valueViews({
      model: [v('string', 'ridge'), v('string', 'lasso')],
      citrus: [v('row', { fruit: 'orange', size: 10 }), v('row', { fruit: 'lime', size: 3, note: 'green' })],
      tbl: [v('table', { a: [1, 2], b: ['x', null] })],
      roc: [v('image', 'outputs/images/roc_1.png')],
      cm: [v('confusion_matrix', { schema_type: 'confusion_matrix', data: { class_labels: ['0', '1'], matrix: [[3, 1], [0, 4]] } })],
      res: [v('residuals', { data: { bin_edges: [0, 1], bin_counts: [2] } })],
    });
    expect(views.map((x) => [x.key, x.kind])).toEqual([
      ['citrus', 'table'],
      ['cm', 'table'],
      ['model', 'text'],
      ['res', 'json'],
      ['roc', 'image'],
      ['tbl', 'table'],
    ]);
    expect(views[0]).toMatchObject({
      title: 'citrus (2 rows)',
      table: { columns: ['fruit', 'size', 'note'], rows: [['orange', '10', ''], ['lime', '3', 'green']] },
    });
    expect(views[1]).toMatchObject({ table: { columns: ['actual \\ predicted', '0', '1'], rows: [['0', '3', '1'], ['1', '0', '4']] } });
    expect(views[2]).toMatchObject({ values: ['ridge', 'lasso'] });
    expect(views[4]).toMatchObject({ paths: ['outputs/images/roc_1.png'] });
    expect(views[5]).toMatchObject({ table: { columns: ['a', 'b'], rows: [['1', 'x'], ['2', '']] } });
  });

  it('pads short columns and tolerates a malformed matrix', () => {
    expect(columnsTable({ a: [1], b: [1, 2] }).rows).toEqual([['1', '1'], ['', '2']]);
    expect(rowsTable([]).columns).toEqual([]);
    expect(confusionTable({ data: { class_labels: 'x' } })).toBeNull();
    const views = valueViews({ cm: [v('confusion_matrix', { data: {} })] });
    expect(views[0].kind).toBe('json');
  });
});
