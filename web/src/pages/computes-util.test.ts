import { describe, expect, it } from 'vitest';
import { nodeCounts } from './computes-util';
import type { Compute } from '../types';

const target = (details: Record<string, unknown>): Compute => ({ name: 't', kind: 'slurm', details }) as Compute;

describe('nodeCounts', () => {
  it('counts each Slurm node once though sinfo lists it per partition', () => {
    const n = nodeCounts(
      target({
        nodes: [
          { node: 'n1', partition: 'debug', state: 'idle' },
          { node: 'n1', partition: 'low', state: 'idle' },
          { node: 'n2', partition: 'debug', state: 'allocated' },
          { node: 'n2', partition: 'low', state: 'allocated' },
          { node: 'n3', partition: 'debug', state: 'down*' },
        ],
      }),
    );
    expect(n).toEqual({ busy: 1, idle: 1, starting: 0, other: 1, total: 3 });
  });

  it("uses a managed cluster's own counts", () => {
    const n = nodeCounts(target({ counts: { busy: 2, idle: 1, starting: 1, current: 3 } }));
    expect(n).toEqual({ busy: 2, idle: 1, starting: 1, other: 0, total: 4 });
  });

  it('has nothing to say for targets without nodes', () => {
    expect(nodeCounts(target({ facts: {} }))).toBeNull();
  });
});
