import { describe, expect, it } from 'vitest';
import { LogBuffer, stripAnsi, tail } from './logbuffer';

const ev = (rank: number, offset: number, text: string, extra: object = {}) => ({
  rank,
  offset,
  next_offset: offset + new TextEncoder().encode(text).length,
  text,
  ...extra,
});

describe('LogBuffer', () => {
  it('appends by offset and joins lines split across events', () => {
    const b = new LogBuffer();
    b.append(ev(0, 0, 'hello wo'));
    expect(b.view(0, '')).toEqual(['hello wo']); // the partial line shows
    b.append(ev(0, 8, 'rld\nsecond\nthi'));
    b.append(ev(0, 22, 'rd\n'));
    expect(b.view(0, '')).toEqual(['hello world', 'second', 'third']);
    expect(b.nextOffset(0)).toBe(25);
  });

  it('skips re-sent bytes after a reconnect (full and partial overlap)', () => {
    const b = new LogBuffer();
    b.append(ev(0, 0, 'a\nb\n'));
    expect(b.append(ev(0, 0, 'a\nb\n'))).toBe(false);
    b.append(ev(0, 2, 'b\nc\n'));
    expect(b.view(0, '')).toEqual(['a', 'b', 'c']);
  });

  it('handles multi-byte characters in overlaps by byte offset', () => {
    const b = new LogBuffer();
    b.append(ev(0, 0, 'é\n')); // 3 bytes
    b.append(ev(0, 0, 'é\nü\n'));
    expect(b.view(0, '')).toEqual(['é', 'ü']);
  });

  it('prefixes ranks in the all-ranks view and filters', () => {
    const b = new LogBuffer();
    b.append(ev(0, 0, 'epoch 1 loss 0.5\n'));
    b.append(ev(1, 0, 'rank one ready\n'));
    b.append(ev(0, 17, 'epoch 2 loss 0.4\n'));
    expect(b.rankList()).toEqual([0, 1]);
    expect(b.view('all', '')).toEqual(['[0] epoch 1 loss 0.5', '[1] rank one ready', '[0] epoch 2 loss 0.4']);
    expect(b.view(1, '')).toEqual(['rank one ready']);
    expect(b.view(0, 'EPOCH 2')).toEqual(['epoch 2 loss 0.4']);
    expect(b.view('all', '[1]')).toEqual(['[1] rank one ready']);
  });

  it('strips ANSI codes and keeps the last carriage-return segment', () => {
    expect(stripAnsi('\x1b[31mred\x1b[0m \x1b]0;title\x07x')).toBe('red x');
    const b = new LogBuffer();
    b.append(ev(0, 0, '10%\r50%\r100%\r\n\x1b[1mdone\x1b[0m\n'));
    expect(b.view(0, '')).toEqual(['100%', 'done']);
  });

  it('caps the number of lines and counts what was dropped', () => {
    const b = new LogBuffer(3);
    b.append(ev(0, 0, '1\n2\n3\n4\n5\n'));
    expect(b.view(0, '')).toEqual(['3', '4', '5']);
    expect(b.dropped).toBe(2);
    expect(tail([1, 2, 3, 4], 2)).toEqual({ lines: [3, 4], hidden: 2 });
  });

  it('records truncated_before and prepends earlier bytes joined to the first fragment', () => {
    const b = new LogBuffer();
    b.append(ev(0, 100, 'ld\nnext\n', { truncated_before: 100 }));
    expect(b.startOffset(0)).toBe(100);
    b.prepend(0, 90, 'line\nwor');
    expect(b.view(0, '')).toEqual(['line', 'world', 'next']);
    expect(b.startOffset(0)).toBe(90);
  });
});
