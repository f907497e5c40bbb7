import { describe, expect, it } from 'vitest';
import { href, parseHash } from './router';

describe('router: data and model pages', () => {
  it('parses the datastore, dataset and model routes', () => {
    expect(parseHash('#/datastores').page).toBe('datastores');
    const ds = parseHash(href.datastore('shared', 'raw/2024'));
    expect(ds).toMatchObject({ page: 'datastore', name: 'shared' });
    expect(ds.query.get('prefix')).toBe('raw/2024');
    expect(parseHash(href.datasets(true)).query.get('archived')).toBe('1');
    expect(parseHash(href.dataset('iris'))).toMatchObject({ page: 'dataset', name: 'iris' });
    expect(parseHash(href.datasetVersion('iris', 2))).toMatchObject({ page: 'dataset-version', name: 'iris', version: '2' });
    expect(parseHash('#/datasets/iris/latest')).toMatchObject({ page: 'dataset-version', version: 'latest' });
    expect(parseHash(href.models()).page).toBe('models');
    expect(parseHash(href.model('clf'))).toMatchObject({ page: 'model', name: 'clf' });
    expect(parseHash(href.modelVersion('clf', 3))).toMatchObject({ page: 'model-version', name: 'clf', version: '3' });
  });

  it('encodes names and says there is no page for deeper paths', () => {
    expect(parseHash(href.dataset('a b'))).toMatchObject({ page: 'dataset', name: 'a b' });
    expect(parseHash('#/datasets/a/1/extra').page).toBe('notfound');
    expect(parseHash('#/datastores/a/b').page).toBe('notfound');
  });
});
