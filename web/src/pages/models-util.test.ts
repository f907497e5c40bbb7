import { describe, expect, it } from 'vitest';
import type { ModelVersion } from '../types';
import { summarizeModels } from './models-util';

const mv = (name: string, version: number, created_at: number): ModelVersion => ({ name, version, id: `${name}:${version}`, created_at });

describe('summarizeModels', () => {
  it('groups versions by model with the newest version, most recent model first', () => {
    const s = summarizeModels([mv('a', 1, 10), mv('b', 1, 20), mv('a', 3, 30), mv('a', 2, 25)]);
    expect(s.map((m) => [m.name, m.latest.version, m.versions])).toEqual([
      ['a', 3, 3],
      ['b', 1, 1],
    ]);
  });

  it('is empty for no versions', () => {
    expect(summarizeModels([])).toEqual([]);
  });
});
