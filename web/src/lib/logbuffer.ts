// Log lines of a run, fed by the run stream's `log` events ({rank, offset, next_offset, text}).
// Offsets are byte offsets in each rank's log. After a reconnect the server may re-send bytes
// that were already received: the overlap is skipped. Lines split across events are joined.

// biome-ignore lint/suspicious/noControlCharactersInRegex: it matches ANSI escapes, which start with ESC
const ANSI_RE = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[@-Z\\-_]/g;

/** Removes ANSI escape sequences (colours, cursor moves, OSC titles). */
export function stripAnsi(s: string): string {
  return s.replace(ANSI_RE, '');
}

// A line with carriage returns (progress bars) shows what a terminal would: the text after the last "\r".
function cookLine(s: string): string {
  let t = s.endsWith('\r') ? s.slice(0, -1) : s;
  const cr = t.lastIndexOf('\r');
  if (cr >= 0) t = t.slice(cr + 1);
  return stripAnsi(t);
}

export interface LogLine {
  rank: number;
  text: string;
}

interface RankState {
  start: number; // first byte offset held (truncated_before, or 0)
  next: number; // next expected byte offset
  partial: string; // raw text after the last "\n"
  partialLine: LogLine | null; // the display line of `partial` (in `lines`)
  firstLine: LogLine | null; // first line of this rank (joined with "load earlier" text)
  firstFragment: boolean; // firstLine may be the tail of an earlier line
}

export interface LogEvent {
  rank: number;
  offset: number;
  next_offset?: number;
  text: string;
  truncated_before?: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class LogBuffer {
  lines: LogLine[] = [];
  /** Lines dropped from the front to stay under the cap. */
  dropped = 0;
  private ranks = new Map<number, RankState>();
  /** Bumped on every change (for cheap re-render checks). */
  version = 0;

  constructor(public cap = 50000) {}

  rankList(): number[] {
    return [...this.ranks.keys()].sort((a, b) => a - b);
  }

  /** Byte offset of the first byte held for a rank (> 0: earlier bytes can be loaded). */
  startOffset(rank: number): number {
    return this.ranks.get(rank)?.start ?? 0;
  }

  nextOffset(rank: number): number {
    return this.ranks.get(rank)?.next ?? 0;
  }

  /** Applies a `log` event; returns false when it carried nothing new. */
  append(ev: LogEvent): boolean {
    let st = this.ranks.get(ev.rank);
    const bytes = enc.encode(ev.text);
    const end = ev.next_offset ?? ev.offset + bytes.length;
    if (!st) {
      const start = ev.truncated_before && ev.truncated_before > 0 ? ev.truncated_before : ev.offset;
      st = { start, next: start, partial: '', partialLine: null, firstLine: null, firstFragment: start > 0 };
      this.ranks.set(ev.rank, st);
    }
    if (end <= st.next) return false; // a re-send of bytes we have
    let text = ev.text;
    if (ev.offset < st.next) {
      const skip = st.next - ev.offset;
      text = dec.decode(bytes.subarray(Math.min(skip, bytes.length)));
    }
    // A gap (offset past what we have) is accepted as is: the server decided to skip bytes.
    st.next = end;
    if (text.length === 0) return false;
    this.addText(ev.rank, st, text);
    this.version++;
    return true;
  }

  private addText(rank: number, st: RankState, text: string) {
    const pieces = (st.partial + text).split('\n');
    st.partial = pieces.pop() as string;
    // The first piece completes the current partial line (if it is displayed).
    let i = 0;
    if (st.partialLine) {
      st.partialLine.text = cookLine(pieces.length > 0 ? pieces[0] : st.partial);
      if (pieces.length > 0) {
        i = 1;
        st.partialLine = null;
      } else {
        return;
      }
    }
    for (; i < pieces.length; i++) this.push({ rank, text: cookLine(pieces[i]) }, st);
    if (st.partial !== '') {
      const l = { rank, text: cookLine(st.partial) };
      st.partialLine = l;
      this.push(l, st);
    }
  }

  private push(l: LogLine, st: RankState) {
    if (!st.firstLine) st.firstLine = l;
    this.lines.push(l);
    if (this.lines.length > this.cap) {
      const n = this.lines.length - this.cap;
      this.lines.splice(0, n);
      this.dropped += n;
    }
  }

  /**
   * Adds bytes [offset, startOffset(rank)) fetched with GET /logs ("load earlier"). The text is
   * put before everything held; its last piece is joined with the rank's first line.
   */
  prepend(rank: number, offset: number, text: string): void {
    const st = this.ranks.get(rank);
    if (!st || offset >= st.start) return;
    const pieces = text.split('\n');
    const tail = pieces.pop() as string;
    if (st.firstLine && st.firstFragment) {
      st.firstLine.text = cookLine(tail) + st.firstLine.text;
    } else if (tail !== '') {
      pieces.push(tail);
    }
    const add = pieces.map((p) => ({ rank, text: cookLine(p) }));
    this.lines.unshift(...add);
    if (add.length > 0) st.firstLine = add[0];
    st.firstFragment = offset > 0;
    st.start = offset;
    this.version++;
  }

  /** Lines for display: one rank (or all, prefixed with "[rank] "), filtered by a substring. */
  view(rank: number | 'all', filter: string): string[] {
    const f = filter.toLowerCase();
    const out: string[] = [];
    for (const l of this.lines) {
      if (rank !== 'all' && l.rank !== rank) continue;
      const t = rank === 'all' ? `[${l.rank}] ${l.text}` : l.text;
      if (f && !t.toLowerCase().includes(f)) continue;
      out.push(t);
    }
    return out;
  }

  clear() {
    this.lines = [];
    this.ranks.clear();
    this.dropped = 0;
    this.version++;
  }
}

/** The last `max` lines and how many were left out. */
export function tail<T>(lines: T[], max: number): { lines: T[]; hidden: number } {
  if (lines.length <= max) return { lines, hidden: 0 };
  return { lines: lines.slice(lines.length - max), hidden: lines.length - max };
}
