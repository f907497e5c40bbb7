// The attach-compute form, generated from the server's kind table (GET /api/v1/compute-kinds):
// the fields each kind has, and turning the form into a POST /computes body with client-side
// checks for the obvious mistakes only (the server validates the rest). Nothing here names a
// kind: a kind added to the server's table shows up in the form as it is.
import type { ComputeKind, KindOption } from '../types';

export type FormValues = Record<string, string | boolean>;

/** One input of the form (a node_size option becomes three). */
export interface FieldSpec {
  name: string; // the request body field
  label: string;
  type: 'text' | 'int' | 'password' | 'checkbox' | 'select';
  required: boolean;
  min?: number;
  max?: number;
  placeholder: string;
  options?: string[]; // select: the values offered, '' (unset) first
  help: string;
  /** Options sharing a non-empty group: exactly one of them must be given. */
  oneOf: string;
  /** Only shown and sent while the form's value of `field` equals `value`. */
  shownWhen?: { field: string; value: string };
}

export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const NAME_FIELD: FieldSpec = {
  name: 'name',
  label: 'Name',
  type: 'text',
  required: true,
  placeholder: 'gpu-box',
  help: '',
  oneOf: '',
};

// The request fields a node_size option fills, as the form shows them.
const NODE_SIZE_FIELDS: Record<string, { label: string; min: number; placeholder: string }> = {
  cpus: { label: 'CPUs per node', min: 1, placeholder: '1' },
  memory_mb: { label: 'Memory per node (MB)', min: 1, placeholder: '1024' },
  gpus: { label: 'GPUs per node', min: 0, placeholder: '0' },
};

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** The server's answer → kinds, with the optional parts of each option filled in. Throws on a malformed table. */
export function parseKinds(answer: unknown): ComputeKind[] {
  const kinds = (answer as any)?.kinds;
  if (!Array.isArray(kinds)) throw new Error("the server's kind table (GET /api/v1/compute-kinds) has no 'kinds' list");
  return kinds
    .filter((k: any) => k && typeof k.name === 'string' && k.name !== '')
    .map(
      (k: any): ComputeKind => ({
        name: k.name,
        verb: str(k.verb),
        help: str(k.help),
        sdk_class: str(k.sdk_class),
        attachable: k.attachable === true,
        powered: k.powered === true,
        provisions: k.provisions === true,
        host_key: k.host_key === true,
        options: (Array.isArray(k.options) ? k.options : [])
          .filter((o: any) => o && typeof o.type === 'string')
          .map(
            (o: any): KindOption => ({
              flag: str(o.flag),
              field: str(o.field),
              type: o.type,
              help: str(o.help),
              required: o.required === true,
              one_of: str(o.one_of),
              label: str(o.label) || str(o.field) || str(o.flag),
              placeholder: str(o.placeholder),
              min: num(o.min),
              max: num(o.max),
              choices: Array.isArray(o.choices) ? o.choices.map(String) : [],
              shown_when: str(o.shown_when),
              fields: Array.isArray(o.fields) ? o.fields.map(String) : undefined,
            }),
          ),
      }),
    );
}

/** The kinds that get an attach button, in the server's order. */
export function attachableKinds(kinds: ComputeKind[]): ComputeKind[] {
  return kinds.filter((k) => k.attachable);
}

function parseShownWhen(s: string): FieldSpec['shownWhen'] {
  const eq = s.indexOf('=');
  if (!s || eq <= 0) return undefined;
  return { field: s.slice(0, eq).trim(), value: s.slice(eq + 1).trim() };
}

/** The form's inputs for a kind: its name, then one per option (three for a node size). */
export function formFields(kind: ComputeKind): FieldSpec[] {
  const out: FieldSpec[] = [NAME_FIELD];
  const seen = new Set(['name']);
  const push = (f: FieldSpec) => {
    if (!f.name || seen.has(f.name)) return;
    seen.add(f.name);
    out.push(f);
  };
  for (const o of kind.options) {
    const common = {
      required: o.required,
      label: o.label || o.field,
      placeholder: o.placeholder,
      help: o.help,
      oneOf: o.one_of,
      shownWhen: parseShownWhen(o.shown_when),
    };
    switch (o.type) {
      case 'int':
        push({ ...common, name: o.field, type: 'int', min: o.min, max: o.max });
        break;
      case 'flag':
        push({ ...common, name: o.field, type: 'checkbox', required: false });
        break;
      case 'path':
        push({
          ...common,
          name: o.field,
          type: 'text',
          help: [o.help, "an absolute path on the server's machine"].filter(Boolean).join('; '),
        });
        break;
      case 'secret_file':
        // The CLI reads the secret from a file; the form takes the secret itself (its help names the file).
        push({ ...common, name: o.field, type: 'password', help: '' });
        break;
      case 'node_size':
        for (const field of o.fields && o.fields.length > 0 ? o.fields : Object.keys(NODE_SIZE_FIELDS)) {
          const known = NODE_SIZE_FIELDS[field];
          push({
            ...common,
            name: field,
            type: 'int',
            label: known ? known.label : `${common.label}: ${field}`,
            min: known ? known.min : 0,
            placeholder: known ? known.placeholder : '',
            help: '',
            oneOf: '',
          });
        }
        break;
      default: // string, and any type this Studio does not know: text as given
        if (o.choices.length > 0) push({ ...common, name: o.field, type: 'select', options: ['', ...o.choices] });
        else push({ ...common, name: o.field, type: 'text' });
    }
  }
  return out;
}

/** A field's current value as shown_when compares it: "true"/"false" for a checkbox, "" when unset or hidden. */
function currentValue(name: string, fields: FieldSpec[], values: FormValues, depth: number): string {
  const f = fields.find((x) => x.name === name);
  const checkbox = f?.type === 'checkbox' || typeof values[name] === 'boolean';
  if (f && depth < fields.length && !shown(f, fields, values, depth + 1)) return checkbox ? 'false' : '';
  const v = values[name];
  if (checkbox) return v === true ? 'true' : 'false';
  return typeof v === 'string' ? v.trim() : '';
}

function shown(f: FieldSpec, fields: FieldSpec[], values: FormValues, depth: number): boolean {
  if (!f.shownWhen) return true;
  return currentValue(f.shownWhen.field, fields, values, depth) === f.shownWhen.value;
}

/** The fields shown (and sent) for the current values. */
export function visibleFields(fields: FieldSpec[], values: FormValues): FieldSpec[] {
  return fields.filter((f) => shown(f, fields, values, 0));
}

function given(f: FieldSpec, values: FormValues): boolean {
  const v = values[f.name];
  return f.type === 'checkbox' ? v === true : typeof v === 'string' && v.trim() !== '';
}

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

export type BuildResult = { body: Record<string, unknown> } | { field: string; error: string };

/** Form values → POST /computes body, or the first problem (field and message). */
export function buildAttachBody(kind: ComputeKind, values: FormValues): BuildResult {
  const fields = formFields(kind);
  const visible = visibleFields(fields, values);
  const body: Record<string, unknown> = { kind: kind.name };
  for (const f of visible) {
    const raw = values[f.name];
    if (f.type === 'checkbox') {
      if (raw === true) body[f.name] = true;
      continue;
    }
    const v = typeof raw === 'string' ? raw.trim() : '';
    if (v === '') {
      if (f.required) return { field: f.name, error: `${f.label} is required` };
      continue;
    }
    if (f === NAME_FIELD && !NAME_RE.test(v)) {
      return {
        field: 'name',
        error: `Name '${v}' must start with a letter or digit and contain only letters, digits, '.', '_' and '-' (at most 128)`,
      };
    }
    if (f.type === 'int') {
      const n = Number(v);
      if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(n)) return { field: f.name, error: `${f.label} must be a whole number, not '${v}'` };
      if (f.min !== undefined && n < f.min) return { field: f.name, error: `${f.label} must be at least ${f.min}` };
      if (f.max !== undefined && n > f.max) return { field: f.name, error: `${f.label} must be at most ${f.max}` };
      body[f.name] = n;
      continue;
    }
    if (f.type === 'select' && f.options && !f.options.includes(v)) {
      return { field: f.name, error: `${f.label} must be one of ${f.options.filter(Boolean).join(', ')}, not '${v}'` };
    }
    body[f.name] = f.type === 'password' ? (raw as string) : v; // a secret is sent as typed
  }
  // one_of: of the shown options of a group, exactly one must be given.
  const groups = new Map<string, FieldSpec[]>();
  for (const f of visible) if (f.oneOf) groups.set(f.oneOf, [...(groups.get(f.oneOf) || []), f]);
  for (const members of groups.values()) {
    const set = members.filter((f) => given(f, values));
    if (set.length === 1) continue;
    const describe = (f: FieldSpec) => (f.type === 'checkbox' ? `check '${f.label}'` : `give ${f.label}`);
    if (set.length === 0) {
      const at = members.find((f) => f.type !== 'checkbox') || members[0];
      return { field: at.name, error: capitalize(members.map(describe).join(' or ')) };
    }
    return { field: set[1].name, error: `Give only one of ${set.map((f) => f.label).join(' and ')}` };
  }
  return { body };
}

/** A loader that calls `load` once and then answers from its result; a failure is forgotten (the next call retries). */
export function cachedLoader<T>(load: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | null = null;
  return () => {
    if (!pending) {
      const p = load();
      pending = p;
      p.catch(() => {
        if (pending === p) pending = null;
      });
    }
    return pending;
  };
}
