// Node counts of a compute target from its driver's `details` (cluster: counts; slurm: sinfo nodes).
import type { Compute } from '../types';

export interface NodeCounts {
  busy: number;
  idle: number;
  starting: number;
  other: number;
  total: number;
}

export function nodeCounts(c: Compute): NodeCounts | null {
  const d = c.details || {};
  if (d.counts && typeof d.counts === 'object') {
    const k = d.counts as Record<string, number>;
    const nodes = Array.isArray(d.nodes) ? d.nodes.length : (k.current || 0) + (k.starting || 0);
    return {
      busy: k.busy || 0,
      idle: k.idle || 0,
      starting: k.starting || 0,
      other: Math.max(0, nodes - (k.busy || 0) - (k.idle || 0) - (k.starting || 0)),
      total: nodes,
    };
  }
  if (Array.isArray(d.nodes)) {
    // Slurm lists a node once per partition it is in: count each node once.
    const seen = new Set<string>();
    const nodes = d.nodes.filter((node: { node?: string }) => {
      if (!node.node) return true;
      if (seen.has(node.node)) return false;
      seen.add(node.node);
      return true;
    });
    const n: NodeCounts = { busy: 0, idle: 0, starting: 0, other: 0, total: nodes.length };
    for (const node of nodes) {
      const st = String(node.state || node.slurm_state || '').toLowerCase();
      if (/^(alloc|mix|compl)/.test(st)) n.busy++;
      else if (/^idle/.test(st)) n.idle++;
      else if (/^(powering_up|power_up|starting|boot|configuring)/.test(st) || node.provider_state === 'starting') n.starting++;
      else n.other++;
    }
    return n;
  }
  return null;
}
