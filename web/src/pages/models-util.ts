// The models list: GET /models gives every version of every model; the page shows one row per model.
import type { ModelVersion } from '../types';

export interface ModelSummary {
  name: string;
  latest: ModelVersion;
  versions: number;
}

/** Versions grouped by model with the newest version of each; the most recently changed model first. */
export function summarizeModels(versions: ModelVersion[]): ModelSummary[] {
  const by = new Map<string, ModelSummary>();
  for (const v of versions) {
    const s = by.get(v.name);
    if (!s) by.set(v.name, { name: v.name, latest: v, versions: 1 });
    else {
      s.versions += 1;
      if (v.version > s.latest.version) s.latest = v;
    }
  }
  return [...by.values()].sort((a, b) => b.latest.created_at - a.latest.created_at || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
