import { describe, expect, it } from 'vitest';
import { buildTree, decodeText, parseManifest } from './manifest';

const H = (c: string) => c.repeat(64);
const text =
  `644 12 ${H('a')} data/a.txt\n` +
  `644 30 ${H('b')} data/sub/b.bin\n` +
  `644 5 ${H('c')} README.md\n` +
  `755 230 ${H('d')} train.py\n`;

describe('manifest', () => {
  it('parses lines into entries', () => {
    const e = parseManifest(text);
    expect(e).toHaveLength(4);
    expect(e[3]).toEqual({ mode: 0o755, size: 230, hash: H('d'), path: 'train.py' });
  });

  it('rejects malformed lines with the line number', () => {
    expect(() => parseManifest(`644 12 ${H('a')} ok\nnot a line\n`)).toThrow(/line 2/);
  });

  it('builds a tree with directories first and sizes summed', () => {
    const t = buildTree(parseManifest(text));
    expect(t.dirs.map((d) => d.name)).toEqual(['data']);
    expect(t.files.map((f) => f.name)).toEqual(['README.md', 'train.py']);
    const data = t.dirs[0];
    expect(data.path).toBe('data');
    expect(data.files[0].path).toBe('data/a.txt');
    expect(data.dirs[0].path).toBe('data/sub');
    expect(data.dirs[0].files[0].name).toBe('b.bin');
    expect(data.size).toBe(42);
    expect(t.count).toBe(4);
    expect(t.size).toBe(277);
  });

  it('tells text from binary', () => {
    expect(decodeText(new TextEncoder().encode('héllo\n'))).toBe('héllo\n');
    expect(decodeText(new Uint8Array([104, 0, 105]))).toBeNull();
    expect(decodeText(new Uint8Array([0xff, 0xfe, 0x41]))).toBeNull();
  });
});
