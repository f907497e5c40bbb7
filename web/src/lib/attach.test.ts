import { describe, expect, it } from 'vitest';
import { buildAttachBody } from './attach';

describe('attach form → body', () => {
  it('builds an ssh body with integers and without empty fields', () => {
    const r = buildAttachBody('ssh', { name: 'gpu1', host: 'h.example', port: '2222', key_file: '/k', user: '', max_concurrent_runs: '2' });
    expect(r).toEqual({ body: { kind: 'ssh', name: 'gpu1', host: 'h.example', port: 2222, key_file: '/k', max_concurrent_runs: 2 } });
  });

  it('checks required fields, the name pattern and integer ranges', () => {
    expect(buildAttachBody('ssh', { name: 'a', host: '' })).toEqual({ field: 'host', error: 'Host is required' });
    expect(buildAttachBody('ssh', { name: '-bad', host: 'h' })).toMatchObject({ field: 'name' });
    expect(buildAttachBody('ssh', { name: 'a', host: 'h', port: '70000' })).toMatchObject({ field: 'port', error: 'Port must be at most 65535' });
    expect(buildAttachBody('ssh', { name: 'a', host: 'h', port: '2x' })).toMatchObject({ field: 'port' });
    expect(buildAttachBody('ssh', { name: 'a', host: 'h', key_file: '/k', password: 'p' })).toMatchObject({ field: 'password' });
  });

  it('leaves out login fields for a local slurm cluster', () => {
    const r = buildAttachBody('slurm', { name: 's', local: true, login: 'x', shared_dir: '/shared' });
    expect(r).toEqual({ body: { kind: 'slurm', name: 's', local: true, shared_dir: '/shared' } });
    expect(buildAttachBody('slurm', { name: 's', local: false, login: 'nohost', shared_dir: '/s' })).toMatchObject({ field: 'login' });
  });

  it('checks cluster sizes', () => {
    expect(buildAttachBody('cluster', { name: 'c', min_nodes: '3', max_nodes: '2' })).toMatchObject({ field: 'min_nodes' });
    expect(buildAttachBody('cluster', { name: 'c', max_nodes: '1001' })).toMatchObject({ field: 'max_nodes' });
    const ok = buildAttachBody('cluster', { name: 'c', min_nodes: '0', max_nodes: '4', priority: 'low', provider: 'netns', start_command: 'ignored' });
    expect(ok).toEqual({ body: { kind: 'cluster', name: 'c', min_nodes: 0, max_nodes: 4, priority: 'low', provider: 'netns' } });
  });
});
