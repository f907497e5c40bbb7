import { describe, expect, it } from 'vitest';
import { Backoff, reconnectBackoff } from './backoff';

const take = (b: Backoff, n: number) => Array.from({ length: n }, () => b.next());

describe('Backoff', () => {
  it('grows by its factor up to the cap', () => {
    expect(take(new Backoff({ initialMs: 20, maxMs: 2000 }), 9)).toEqual([
      20, 40, 80, 160, 320, 640, 1280, 2000, 2000,
    ]);
    expect(take(new Backoff({ initialMs: 200, maxMs: 5000, factor: 1.5 }), 3)).toEqual([
      200, 300, 450,
    ]);
  });

  it('starts over after reset', () => {
    const b = new Backoff({ initialMs: 10, maxMs: 100 });
    take(b, 5);
    b.reset();
    expect(take(b, 2)).toEqual([10, 20]);
  });

  it('keeps jittered delays within their share and the cap', () => {
    let x = 0;
    const random = () => (x = (x + 0.37) % 1);
    const b = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0.5, random });
    let nominal = 100;
    for (let i = 0; i < 20; i++) {
      const d = b.next();
      expect(d).toBeGreaterThanOrEqual(nominal / 2);
      expect(d).toBeLessThanOrEqual(nominal);
      nominal = Math.min(nominal * 2, 1000);
    }
  });
});

describe('reconnectBackoff', () => {
  it('grows from 1 s to a 10 s cap', () => {
    expect(take(reconnectBackoff(), 7)).toEqual([1000, 2000, 4000, 8000, 10000, 10000, 10000]);
  });
});
