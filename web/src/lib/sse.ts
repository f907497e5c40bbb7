// Incremental parser for `text/event-stream` bodies (the WHATWG "server-sent events" format).
// EventSource cannot send an Authorization header, so the app reads the body with fetch() and
// feeds decoded text to this parser as it arrives. Chunks may split anywhere: inside a field,
// between "\r" and "\n", inside a multi-line data block.

export interface SseEvent {
  event: string; // "message" when the block had no event: field
  data: string; // data: lines joined with "\n"
  id?: string; // the last event id seen so far (sticky, like EventSource's lastEventId)
}

export class SseParser {
  private buf = '';
  private data: string[] = [];
  private hasData = false;
  private event = '';
  private lastId: string | undefined;
  private sawCR = false; // previous chunk ended with "\r" (its "\n" may start the next chunk)
  /** Milliseconds from a `retry:` field, if the server sent one. */
  retry: number | undefined;

  /** Feeds decoded text; returns the events completed by it. */
  push(chunk: string): SseEvent[] {
    const out: SseEvent[] = [];
    let text = chunk;
    if (this.sawCR) {
      if (text.startsWith('\n')) text = text.slice(1);
      this.sawCR = false;
    }
    this.buf += text;
    let start = 0;
    const s = this.buf;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = s.slice(start, i);
      if (c === 13) {
        if (i + 1 < s.length) {
          if (s.charCodeAt(i + 1) === 10) i++;
        } else {
          this.sawCR = true;
        }
      }
      start = i + 1;
      this.line(line, out);
    }
    this.buf = s.slice(start);
    return out;
  }

  /** Call at end of stream: an unterminated block is discarded, as the spec says. */
  end(): SseEvent[] {
    this.buf = '';
    this.reset();
    return [];
  }

  private reset() {
    this.data = [];
    this.hasData = false;
    this.event = '';
  }

  private line(line: string, out: SseEvent[]) {
    if (line === '') {
      if (this.hasData) {
        out.push({ event: this.event || 'message', data: this.data.join('\n'), id: this.lastId });
      }
      this.reset();
      return;
    }
    if (line.charCodeAt(0) === 58 /* ':' */) return; // comment (keepalive)
    const colon = line.indexOf(':');
    let field: string;
    let value: string;
    if (colon < 0) {
      field = line;
      value = '';
    } else {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.charCodeAt(0) === 32) value = value.slice(1);
    }
    switch (field) {
      case 'data':
        this.data.push(value);
        this.hasData = true;
        break;
      case 'event':
        this.event = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = parseInt(value, 10);
        break;
      default:
        break; // unknown fields are ignored
    }
  }
}
