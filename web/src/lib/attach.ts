// The attach-compute form: which fields each kind has, and turning the form into a request body
// with client-side checks for the obvious mistakes only (the server validates the rest).

export type AttachKind = 'ssh' | 'instance' | 'slurm' | 'cluster';

export interface FieldSpec {
  name: string; // the API field
  label: string;
  type: 'text' | 'int' | 'password' | 'checkbox' | 'select';
  required?: boolean;
  min?: number;
  max?: number;
  placeholder?: string;
  options?: string[];
  help?: string;
  /** Only shown/sent when this returns true for the current values. */
  when?: (v: Record<string, string | boolean>) => boolean;
}

export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const name: FieldSpec = { name: 'name', label: 'Name', type: 'text', required: true, placeholder: 'gpu-box' };
const sshAuth: FieldSpec[] = [
  { name: 'key_file', label: 'Key file', type: 'text', placeholder: '/home/me/.ssh/id_ed25519', help: 'absolute path on the server machine; or give a password' },
  { name: 'passphrase', label: 'Key passphrase', type: 'password' },
  { name: 'password', label: 'Password', type: 'password' },
];
const sshHost: FieldSpec[] = [
  { name: 'host', label: 'Host', type: 'text', required: true, placeholder: 'gpu1.example.com' },
  { name: 'port', label: 'Port', type: 'int', min: 1, max: 65535, placeholder: '22' },
  { name: 'user', label: 'User', type: 'text' },
  ...sshAuth,
  { name: 'max_concurrent_runs', label: 'Max concurrent runs', type: 'int', min: 1, placeholder: '1' },
  { name: 'remote_dir', label: 'Remote directory', type: 'text', placeholder: '.ferry-agent' },
];
const notLocal = (v: Record<string, string | boolean>) => !v.local;
const isCommand = (v: Record<string, string | boolean>) => v.provider === 'command';

export const ATTACH_FIELDS: Record<AttachKind, FieldSpec[]> = {
  ssh: [name, ...sshHost],
  instance: [
    name,
    ...sshHost,
    { name: 'owner', label: 'Owner', type: 'text', help: 'the user who may submit (default: the workspace token holder)' },
    { name: 'stop_command', label: 'Stop command', type: 'text', help: 'run on the server machine by stop' },
    { name: 'start_command', label: 'Start command', type: 'text', help: 'run on the server machine by start' },
  ],
  slurm: [
    name,
    { name: 'local', label: 'Slurm commands are on this server machine', type: 'checkbox' },
    { name: 'login', label: 'Login node (user@host)', type: 'text', required: true, placeholder: 'me@login.hpc.example', when: notLocal },
    { name: 'port', label: 'Port', type: 'int', min: 1, max: 65535, placeholder: '22', when: notLocal },
    ...sshAuth.map((f) => ({ ...f, when: notLocal })),
    { name: 'shared_dir', label: 'Shared directory', type: 'text', required: true, placeholder: '/shared/ferry', help: 'absolute; every node sees it' },
    { name: 'partition', label: 'Partition', type: 'text' },
    { name: 'account', label: 'Account', type: 'text' },
    { name: 'qos', label: 'QOS', type: 'text' },
    { name: 'low_priority_partition', label: 'Low-priority partition', type: 'text' },
    { name: 'low_priority_qos', label: 'Low-priority QOS', type: 'text' },
    { name: 'server_url', label: 'Server URL for the nodes', type: 'text', placeholder: 'http://10.0.0.1:8080' },
  ],
  cluster: [
    name,
    { name: 'min_nodes', label: 'Min nodes', type: 'int', min: 0, placeholder: '0' },
    { name: 'max_nodes', label: 'Max nodes', type: 'int', min: 1, max: 1000, placeholder: '1' },
    { name: 'idle_seconds_before_scaledown', label: 'Idle seconds before scale-down', type: 'int', min: 1, placeholder: '300' },
    { name: 'cpus', label: 'CPUs per node', type: 'int', min: 1, placeholder: '1' },
    { name: 'memory_mb', label: 'Memory per node (MB)', type: 'int', min: 1, placeholder: '1024' },
    { name: 'gpus', label: 'GPUs per node', type: 'int', min: 0, placeholder: '0' },
    { name: 'priority', label: 'Priority', type: 'select', options: ['dedicated', 'low'] },
    { name: 'provider', label: 'Provider', type: 'select', options: ['', 'netns', 'command'] },
    { name: 'start_command', label: 'Start command ({node})', type: 'text', when: isCommand },
    { name: 'server_url', label: 'Server URL for the nodes', type: 'text', when: isCommand },
    { name: 'controller_address', label: 'Controller address', type: 'text', when: isCommand },
    { name: 'provider_timeout_s', label: 'Provider timeout (s)', type: 'int', min: 10, placeholder: '300', when: isCommand },
  ],
};

/** Form values → POST /computes body, or the first problem (field and message). */
export function buildAttachBody(
  kind: AttachKind,
  values: Record<string, string | boolean>,
): { body: Record<string, unknown> } | { field: string; error: string } {
  const body: Record<string, unknown> = { kind };
  for (const f of ATTACH_FIELDS[kind]) {
    if (f.when && !f.when(values)) continue;
    const raw = values[f.name];
    if (f.type === 'checkbox') {
      if (raw) body[f.name] = true;
      else if (f.name === 'local') body[f.name] = false;
      continue;
    }
    const v = typeof raw === 'string' ? raw.trim() : '';
    if (v === '') {
      if (f.required) return { field: f.name, error: `${f.label} is required` };
      continue;
    }
    if (f.type === 'int') {
      if (!/^-?\d+$/.test(v)) return { field: f.name, error: `${f.label} must be a whole number, not '${v}'` };
      const n = Number(v);
      if (f.min !== undefined && n < f.min) return { field: f.name, error: `${f.label} must be at least ${f.min}` };
      if (f.max !== undefined && n > f.max) return { field: f.name, error: `${f.label} must be at most ${f.max}` };
      body[f.name] = n;
      continue;
    }
    body[f.name] = f.type === 'password' ? (raw as string) : v;
  }
  if (!NAME_RE.test(String(body.name ?? ''))) {
    return {
      field: 'name',
      error: `Name '${body.name}' must start with a letter or digit and contain only letters, digits, '.', '_' and '-' (at most 128)`,
    };
  }
  if (body.key_file && body.password) return { field: 'password', error: 'Give a key file or a password, not both' };
  if (body.passphrase && !body.key_file) return { field: 'passphrase', error: 'A passphrase needs a key file' };
  if (kind === 'slurm' && !body.local && typeof body.login === 'string' && !/^[^@\s]+@[^@\s]+$/.test(body.login)) {
    return { field: 'login', error: `Login must look like user@host, not '${body.login}'` };
  }
  if (
    kind === 'cluster' &&
    typeof body.min_nodes === 'number' &&
    typeof body.max_nodes === 'number' &&
    body.min_nodes > body.max_nodes
  ) {
    return { field: 'min_nodes', error: 'Min nodes must not exceed max nodes' };
  }
  return { body };
}
