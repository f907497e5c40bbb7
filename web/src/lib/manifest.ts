// Snapshot manifests: one line per file, "<mode octal> <size> <sha256> <path>\n", sorted by path.

export interface ManifestEntry {
  mode: number;
  size: number;
  hash: string;
  path: string;
}

export interface TreeDir {
  name: string;
  path: string; // "" for the root
  dirs: TreeDir[];
  files: (ManifestEntry & { name: string })[];
  size: number; // total bytes below
  count: number; // files below
}

/** Parses a manifest; throws with the line number on a malformed line. */
export function parseManifest(text: string): ManifestEntry[] {
  const out: ManifestEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === '') continue;
    const m = /^([0-7]+) (\d+) ([0-9a-f]{64}) (.+)$/.exec(line);
    if (!m) throw new Error(`snapshot manifest line ${i + 1} is malformed: '${line.slice(0, 120)}'`);
    out.push({ mode: parseInt(m[1], 8), size: Number(m[2]), hash: m[3], path: m[4] });
  }
  return out;
}

/** Builds a directory tree; directories first, then files, each sorted by name. */
export function buildTree(entries: ManifestEntry[]): TreeDir {
  const root: TreeDir = { name: '', path: '', dirs: [], files: [], size: 0, count: 0 };
  const index = new Map<string, TreeDir>([['', root]]);
  for (const e of entries) {
    const parts = e.path.split('/');
    let dir = root;
    let prefix = '';
    const chain: TreeDir[] = [root];
    for (let i = 0; i < parts.length - 1; i++) {
      prefix = prefix ? `${prefix}/${parts[i]}` : parts[i];
      let next = index.get(prefix);
      if (!next) {
        next = { name: parts[i], path: prefix, dirs: [], files: [], size: 0, count: 0 };
        index.set(prefix, next);
        dir.dirs.push(next);
      }
      dir = next;
      chain.push(dir);
    }
    dir.files.push({ ...e, name: parts[parts.length - 1] });
    for (const d of chain) {
      d.size += e.size;
      d.count += 1;
    }
  }
  const sortDir = (d: TreeDir) => {
    d.dirs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    d.files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    d.dirs.forEach(sortDir);
  };
  sortDir(root);
  return root;
}

/** Text or binary: a NUL byte or invalid UTF-8 in the first 64 KiB means binary. */
export function decodeText(bytes: Uint8Array): string | null {
  const head = bytes.subarray(0, 65536);
  if (head.includes(0)) return null;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head.length < bytes.length ? trimUtf8(head) : head);
  } catch {
    return null;
  }
  return new TextDecoder('utf-8').decode(bytes);
}

// Drops an incomplete UTF-8 sequence at the end of a prefix.
function trimUtf8(b: Uint8Array): Uint8Array {
  let end = b.length;
  for (let k = 1; k <= 3 && end - k >= 0; k++) {
    const c = b[end - k];
    if ((c & 0xc0) === 0x80) continue; // continuation byte
    if (c >= 0xc0) {
      const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
      if (k < need) end = end - k;
    }
    break;
  }
  return b.subarray(0, end);
}
