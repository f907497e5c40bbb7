import { describe, expect, it } from 'vitest';
import { SseParser } from './sse';

function feedAll(chunks: string[]) {
  const p = new SseParser();
  return chunks.flatMap((c) => p.push(c));
}

describe('SseParser', () => {
  const stream = 'event: run\ndata: {"a":1}\n\n: keepalive\n\nevent: points\ndata: {"b":2}\nid: 7\n\n';

  it('parses events with type, data and id', () => {
    const ev = feedAll([stream]);
    expect(ev).toEqual([
      { event: 'run', data: '{"a":1}', id: undefined },
      { event: 'points', data: '{"b":2}', id: '7' },
    ]);
  });

  it('gives the same events for every split of the input', () => {
    const whole = feedAll([stream]);
    for (let i = 0; i <= stream.length; i++) {
      expect(feedAll([stream.slice(0, i), stream.slice(i)])).toEqual(whole);
    }
    // one character at a time
    expect(feedAll(stream.split(''))).toEqual(whole);
  });

  it('handles CRLF and lone CR line endings, also split between chunks', () => {
    const crlf = 'event: changed\r\ndata: {"time":1.5}\r\n\r\n';
    expect(feedAll([crlf])).toEqual([{ event: 'changed', data: '{"time":1.5}', id: undefined }]);
    for (let i = 0; i <= crlf.length; i++) {
      expect(feedAll([crlf.slice(0, i), crlf.slice(i)])).toHaveLength(1);
    }
    expect(feedAll(['data: x\r', '\r'])).toEqual([{ event: 'message', data: 'x', id: undefined }]);
  });

  it('joins multi-line data with newlines and keeps a missing space', () => {
    const ev = feedAll(['data: line1\ndata:line2\ndata\n\n']);
    expect(ev[0].data).toBe('line1\nline2\n');
    expect(ev[0].event).toBe('message');
  });

  it('ignores comments, blocks without data and unknown fields', () => {
    expect(feedAll([': hello\n\n:\n\nevent: x\n\nfoo: bar\n\n'])).toEqual([]);
  });

  it('does not dispatch an unterminated block', () => {
    const p = new SseParser();
    expect(p.push('event: end\ndata: {}\n')).toEqual([]);
    expect(p.push('\n')).toHaveLength(1);
  });

  it('reads retry', () => {
    const p = new SseParser();
    p.push('retry: 3000\n\n');
    expect(p.retry).toBe(3000);
  });
});
