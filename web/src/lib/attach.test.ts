import { describe, expect, it, vi } from 'vitest';
import type { ComputeKind } from '../types';
import { attachableKinds, buildAttachBody, cachedLoader, formFields, parseKinds, visibleFields } from './attach';
// GET /api/v1/compute-kinds of a real server (`ferry server`, then curl), as it answered.
import answer from './compute-kinds.fixture.json';

const kinds = parseKinds(answer);
const kind = (name: string): ComputeKind => {
  const k = kinds.find((x) => x.name === name);
  if (!k) throw new Error(`no kind ${name} in the fixture`);
  return k;
};
const ssh = kind('ssh');
const slurm = kind('slurm');
const cluster = kind('cluster');

describe('the kind table', () => {
  it('offers the attachable kinds in the server order', () => {
    expect(kinds.map((k) => k.name)).toContain('local');
    expect(attachableKinds(kinds).map((k) => k.name)).toEqual(['ssh', 'instance', 'slurm', 'cluster']);
  });

  it('rejects an answer without a kind list', () => {
    expect(() => parseKinds({})).toThrow(/kinds/);
    expect(() => parseKinds(null)).toThrow(/kinds/);
  });

  it('fills in what an older server leaves out', () => {
    const [k] = parseKinds({ kinds: [{ name: 'x', attachable: true, options: [{ flag: '--size', field: 'size', type: 'int' }] }] });
    expect(k.options[0]).toMatchObject({ label: 'size', placeholder: '', choices: [], shown_when: '', one_of: '', required: false });
  });

  it('turns options into inputs: the name first, then one per option', () => {
    const f = formFields(ssh);
    expect(f.map((x) => x.name)).toEqual(['name', 'host', 'port', 'user', 'key_file', 'passphrase', 'password', 'max_concurrent_runs', 'remote_dir']);
    expect(f.find((x) => x.name === 'port')).toMatchObject({ type: 'int', min: 1, max: 65535, label: 'Port', placeholder: '22' });
    expect(f.find((x) => x.name === 'passphrase')).toMatchObject({ type: 'password', label: 'Key passphrase' });
    expect(f.find((x) => x.name === 'key_file')).toMatchObject({ type: 'text' });
    expect(f.find((x) => x.name === 'key_file')?.help).toMatch(/absolute path/);
    const c = formFields(cluster);
    expect(c.find((x) => x.name === 'priority')).toMatchObject({ type: 'select', options: ['', 'dedicated', 'low'] });
    expect(c.filter((x) => ['cpus', 'memory_mb', 'gpus'].includes(x.name))).toMatchObject([
      { label: 'CPUs per node', type: 'int', min: 1 },
      { label: 'Memory per node (MB)', type: 'int', min: 1 },
      { label: 'GPUs per node', type: 'int', min: 0 },
    ]);
    expect(formFields(slurm).find((x) => x.name === 'local')).toMatchObject({ type: 'checkbox' });
  });
});

describe('attach form → body', () => {
  it('builds an ssh body with integers, the secret as typed and without empty fields', () => {
    const r = buildAttachBody(ssh, {
      name: ' gpu1 ',
      host: 'h.example',
      port: '2222',
      user: 'me',
      key_file: '/k',
      passphrase: ' pass phrase ',
      remote_dir: '',
      max_concurrent_runs: '2',
    });
    expect(r).toEqual({
      body: { kind: 'ssh', name: 'gpu1', host: 'h.example', port: 2222, user: 'me', key_file: '/k', passphrase: ' pass phrase ', max_concurrent_runs: 2 },
    });
  });

  it('checks required fields and the name pattern', () => {
    expect(buildAttachBody(ssh, { name: 'a', host: '', user: 'u' })).toEqual({ field: 'host', error: 'Host is required' });
    expect(buildAttachBody(ssh, { name: 'a', host: 'h', user: ' ' })).toMatchObject({ field: 'user', error: 'User is required' });
    expect(buildAttachBody(ssh, { host: 'h', user: 'u' })).toMatchObject({ field: 'name', error: 'Name is required' });
    expect(buildAttachBody(ssh, { name: '-bad', host: 'h', user: 'u' })).toMatchObject({ field: 'name' });
    expect(buildAttachBody(ssh, { name: 'bad name!', host: '', user: '' })).toMatchObject({ field: 'name' });
  });

  it('checks integers and their bounds', () => {
    const base = { name: 'a', host: 'h', user: 'u' };
    expect(buildAttachBody(ssh, { ...base, port: '70000' })).toEqual({ field: 'port', error: 'Port must be at most 65535' });
    expect(buildAttachBody(ssh, { ...base, port: '0' })).toEqual({ field: 'port', error: 'Port must be at least 1' });
    expect(buildAttachBody(ssh, { ...base, port: '2x' })).toMatchObject({ field: 'port', error: expect.stringMatching(/whole number/) });
    expect(buildAttachBody(ssh, { ...base, port: '22.5' })).toMatchObject({ field: 'port' });
    expect(buildAttachBody(ssh, { ...base, max_concurrent_runs: '0' })).toMatchObject({ field: 'max_concurrent_runs' });
    expect(buildAttachBody(ssh, { ...base, port: '65535' })).toMatchObject({ body: { port: 65535 } });
  });

  it('slurm: the local box or a login, exactly one (one_of), and login fields only without the box (shown_when)', () => {
    const fields = formFields(slurm);
    const shown = (v: Record<string, string | boolean>) => visibleFields(fields, v).map((f) => f.name);
    expect(shown({})).toEqual(expect.arrayContaining(['local', 'login', 'port', 'key_file', 'passphrase', 'password', 'shared_dir']));
    expect(shown({ local: true })).not.toEqual(expect.arrayContaining(['login']));
    for (const f of ['login', 'port', 'key_file', 'passphrase', 'password']) expect(shown({ local: true })).not.toContain(f);

    // Neither: the login is asked for.
    const none = buildAttachBody(slurm, { name: 's', shared_dir: '/shared' });
    expect(none).toMatchObject({ field: 'login' });
    expect((none as { error: string }).error).toMatch(/Slurm commands are on this server machine/);
    expect((none as { error: string }).error).toMatch(/Login node/);
    // The box: login and its SSH fields are left out even when typed before.
    expect(buildAttachBody(slurm, { name: 's', local: true, login: 'me@x', port: '99999', shared_dir: '/shared' })).toEqual({
      body: { kind: 'slurm', name: 's', local: true, shared_dir: '/shared' },
    });
    // A login: sent with its port; the unchecked box is not sent.
    expect(buildAttachBody(slurm, { name: 's', local: false, login: 'me@login', port: '2222', shared_dir: '/shared' })).toEqual({
      body: { kind: 'slurm', name: 's', login: 'me@login', port: 2222, shared_dir: '/shared' },
    });
    expect(buildAttachBody(slurm, { name: 's', local: true })).toEqual({ field: 'shared_dir', error: 'Shared directory is required' });
  });

  it('cluster: node size fields, selects, and the command provider fields only for it', () => {
    expect(buildAttachBody(cluster, { name: 'c', provider: 'netns', cpus: '0' })).toEqual({ field: 'cpus', error: 'CPUs per node must be at least 1' });
    expect(buildAttachBody(cluster, { name: 'c', provider: 'netns', memory_mb: 'lots' })).toMatchObject({ field: 'memory_mb' });
    expect(buildAttachBody(cluster, { name: 'c', provider: 'netns', gpus: '-1' })).toMatchObject({ field: 'gpus' });
    expect(buildAttachBody(cluster, { name: 'c', max_nodes: '1001', provider: 'netns' })).toMatchObject({ field: 'max_nodes' });
    expect(buildAttachBody(cluster, { name: 'c' })).toEqual({ field: 'provider', error: 'Provider is required' });
    expect(buildAttachBody(cluster, { name: 'c', provider: 'cloud' })).toMatchObject({ field: 'provider' });
    const ok = buildAttachBody(cluster, {
      name: 'c',
      min_nodes: '0',
      max_nodes: '4',
      cpus: '2',
      memory_mb: '2048',
      gpus: '0',
      priority: 'low',
      provider: 'netns',
      start_command: 'ignored',
      provider_timeout_s: '5',
    });
    expect(ok).toEqual({
      body: { kind: 'cluster', name: 'c', min_nodes: 0, max_nodes: 4, cpus: 2, memory_mb: 2048, gpus: 0, priority: 'low', provider: 'netns' },
    });
    expect(buildAttachBody(cluster, { name: 'c', provider: 'command', start_command: 'up {node}', provider_timeout_s: '5' })).toEqual({
      field: 'provider_timeout_s',
      error: 'Provider timeout (s) must be at least 10',
    });
    expect(buildAttachBody(cluster, { name: 'c', provider: 'command', start_command: ' up {node} ', priority: '' })).toEqual({
      body: { kind: 'cluster', name: 'c', provider: 'command', start_command: 'up {node}' },
    });
  });

  it('needs no change for a kind it has never seen', () => {
    const [tpu] = parseKinds({
      kinds: [
        {
          name: 'tpu',
          verb: 'create',
          help: 'A TPU pod',
          attachable: true,
          options: [
            { flag: '--zone', field: 'zone', type: 'string', required: true, label: 'Zone', choices: ['a', 'b'] },
            { flag: '--spot', field: 'spot', type: 'flag', label: 'Spot', shown_when: 'zone=b' },
            { flag: '--token-file', field: 'token', type: 'secret_file', label: 'Token', one_of: 'auth' },
            { flag: '--anonymous', field: 'anonymous', type: 'flag', label: 'Anonymous', one_of: 'auth' },
          ],
        },
      ],
    });
    expect(buildAttachBody(tpu, { name: 't', zone: 'a', spot: true, anonymous: true })).toEqual({
      body: { kind: 'tpu', name: 't', zone: 'a', anonymous: true },
    });
    expect(buildAttachBody(tpu, { name: 't', zone: 'b', spot: true, token: 's3cret' })).toEqual({
      body: { kind: 'tpu', name: 't', zone: 'b', spot: true, token: 's3cret' },
    });
    expect(buildAttachBody(tpu, { name: 't', zone: 'b', token: 's', anonymous: true })).toEqual({
      field: 'anonymous',
      error: 'Give only one of Token and Anonymous',
    });
    expect(buildAttachBody(tpu, { name: 't', zone: 'b' })).toEqual({ field: 'token', error: "Give Token or check 'Anonymous'" });
  });
});

describe('cachedLoader', () => {
  it('loads once, and again after a failure', async () => {
    let n = 0;
    const load = vi.fn(() => (++n === 1 ? Promise.reject(new Error('down')) : Promise.resolve(n)));
    const get = cachedLoader(load);
    await expect(get()).rejects.toThrow('down');
    expect(await get()).toBe(2);
    expect(await get()).toBe(2);
    expect(load).toHaveBeenCalledTimes(2);
  });
});
