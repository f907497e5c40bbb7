// Types of the Ferry REST API (docs/openapi.yaml). Everything the server may leave out is optional.

export type MetricValue = number | 'nan' | 'inf' | '-inf' | string;

export interface MetricSummary {
  last?: MetricValue;
  min?: MetricValue;
  max?: MetricValue;
  count?: number;
  last_step?: number;
}

export interface GitState {
  remote_url?: string;
  branch?: string;
  commit?: string;
  dirty?: boolean;
}

export interface StatusEvent {
  status: string;
  time: number;
  reason?: string;
}

export interface Run {
  id: string;
  experiment: string;
  target: string;
  status: string;
  script: string;
  arguments?: string[];
  python?: string;
  snapshot_id?: string;
  tags?: Record<string, string>;
  created_at: number;
  started_at?: number;
  ended_at?: number;
  exit_code?: number | null;
  error?: string;
  attempt?: number;
  cancel_requested?: boolean;
  kind?: string;
  parent_id?: string | null;
  node_count?: number;
  process_count_per_node?: number;
  git?: GitState | null;
  queue_reason?: string;
  submitted_by?: string;
  environment_variables?: Record<string, string>;
  max_run_duration_seconds?: number | null;
  gpus?: number;
  gpu_ids?: number[];
  requeue_on_node_loss?: boolean;
  environment?: Record<string, unknown> | null;
  docker?: Record<string, unknown> | null;
  params?: Record<string, string>;
  metrics?: Record<string, MetricSummary>;
  history?: StatusEvent[];
  inputs?: RunInput[];
  outputs?: RunOutput[];
  [k: string]: unknown;
}

export interface RunList {
  runs: Run[];
  total?: number;
}

export interface RunKeys {
  params: string[];
  metrics: string[];
  tags: string[];
}

export interface Experiment {
  name: string;
  created_at: number;
}

export interface MetricPoint {
  step: number;
  value: MetricValue;
  time?: number;
  rank?: number;
}

export interface MetricsResponse {
  metrics: Record<string, MetricPoint[]>;
  downsampled?: Record<string, { points: number; returned: number }>;
  values?: Record<string, RunValue[]>;
}

/** A non-numeric metric value (a string, list, table, row, image path or Azure ML JSON metric). */
export interface RunValue {
  type: string;
  value: unknown;
  step: number;
  time: number;
}

export interface Artifact {
  path: string;
  size: number;
  hash?: string;
}

export interface SweepTrial {
  id: string;
  status: string;
  created_at?: number;
  started_at?: number;
  ended_at?: number;
  parameters?: Record<string, string | number>;
  metric?: number | null;
  last?: number | null;
  reports?: number;
  reason?: string;
  error?: string;
}

export interface SweepSettings {
  sampling?: string;
  seed?: number;
  policy?: string;
  primary_metric_name?: string;
  primary_metric_goal?: string;
  max_total_runs?: number;
  max_concurrent_runs?: number;
  max_duration_minutes?: number;
  spec_file?: string;
  parameters?: { name: string; expression: string }[];
}

export interface Sweep extends Run {
  sweep: SweepSettings;
  counts?: Record<string, number>;
  best?: SweepTrial | null;
  trials: SweepTrial[];
}

export interface ComputeNode {
  node?: string;
  state?: string;
  slurm_state?: string;
  provider_state?: string;
  partition?: string;
  address?: string;
  error?: string;
  since?: number;
  cpus?: number;
  gres?: string;
  [k: string]: unknown;
}

export interface Compute {
  name: string;
  kind: string;
  created_at?: number;
  state: string;
  state_reason?: string;
  owner?: string;
  active_runs?: number;
  queued_runs?: number;
  max_concurrent_runs?: number;
  capabilities?: Record<string, boolean>;
  details?: Record<string, any>;
  runs?: { id: string; status: string }[];
}

/** One option of a compute kind (GET /api/v1/compute-kinds): a CLI flag and the request field it fills. */
export interface KindOption {
  flag: string;
  field: string; // request body field; "" for node_size (it fills `fields`)
  type: 'string' | 'int' | 'flag' | 'path' | 'secret_file' | 'node_size' | string;
  help: string;
  required: boolean;
  one_of: string; // options sharing a non-empty group: exactly one must be given
  label: string;
  placeholder: string;
  min?: number;
  max?: number;
  choices: string[];
  shown_when: string; // "FIELD=VALUE" or ""
  fields?: string[]; // node_size: the request fields it fills
}

/** A row of the server's kind table (GET /api/v1/compute-kinds). */
export interface ComputeKind {
  name: string;
  verb: string; // "attach" | "create" | "" (cannot be added)
  help: string;
  sdk_class: string;
  attachable: boolean;
  powered: boolean;
  provisions: boolean;
  /** Its targets are reached over SSH with a trusted host key (POST /computes/NAME/trust). */
  host_key?: boolean;
  options: KindOption[];
}

export interface AttachResult {
  name?: string;
  kind?: string;
  facts?: Record<string, unknown>;
  warnings?: string[];
}

export interface Health {
  status?: string;
  version?: string;
  workspace?: string;
  name?: string;
}

// Run stream events (GET /api/v1/runs/{id}/stream).
export interface SeriesEvent {
  key: string;
  points: MetricPoint[];
  total?: number;
  downsampled?: boolean;
}
export interface PointsEvent {
  key: string;
  points: MetricPoint[];
}
export interface LogStreamEvent {
  rank: number;
  offset: number;
  next_offset?: number;
  text: string;
  truncated_before?: number;
}

// Data and models (tags datastores, datasets, models).
export interface Datastore {
  name: string;
  kind: string; // "blob" (workspaceblobstore) | "directory"
  default?: boolean;
  path?: string;
  mounts?: Record<string, string>;
  created_by?: string;
  created_at?: number;
}

export interface DatastoreFile {
  path: string;
  size: number;
  modified_at?: number;
  blob?: string;
}

/** A run that read (input) or wrote (output) a dataset or model version. */
export interface AssetUse {
  run_id: string;
  direction: 'input' | 'output' | string;
  as_name?: string;
}

export interface DatasetVersion {
  name: string;
  version: number;
  id: string;
  kind: string; // "file" | "tabular"
  datastore: string;
  definition?: Record<string, any>;
  manifest: string;
  file_count: number;
  total_bytes: number;
  description?: string;
  tags?: Record<string, string>;
  created_by?: string;
  created_at: number;
  archived?: boolean;
  runs?: AssetUse[];
}

export interface ModelVersion {
  name: string;
  version: number;
  id: string;
  description?: string;
  tags?: Record<string, string>;
  properties?: Record<string, string>;
  run_id?: string;
  model_id?: string;
  source?: string;
  download_uri?: string;
  stage?: string;
  status?: string;
  aliases?: string[];
  manifest?: string;
  file_count?: number;
  total_bytes?: number;
  created_by?: string;
  created_at: number;
  updated_at?: number;
  runs?: AssetUse[];
}

export interface ModelFile {
  path: string;
  size: number;
  hash?: string;
}

/** A run's dataset input (the run JSON's `inputs`). */
export interface RunInput {
  name: string;
  mode?: string;
  path_on_compute?: string;
  dataset: {
    name?: string;
    version?: number | 'latest';
    id?: string;
    kind?: string;
    manifest?: string;
    datastore?: string;
    definition?: Record<string, any>;
  };
}

/** A run's output (the run JSON's `outputs`). */
export interface RunOutput {
  name: string;
  datastore?: string;
  path?: string;
  register_on_complete?: { name?: string; description?: string };
}
