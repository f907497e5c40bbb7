// A dataset version's files (from its manifest blob) and a datastore's listing shown a
// directory at a time.
import { parseManifest } from './manifest';

/** A file of a dataset version: its path in the dataset and where to read it. */
export interface DatasetFile {
  path: string;
  size: number;
  /** Blob-store files: the content hash (GET /blobs/{hash}). */
  hash?: string;
  /** External files: the path in the datastore, and the size and time the version recorded. */
  source?: string;
  modified_at?: number;
}

/**
 * Parses a dataset version's manifest: for the workspace's store the snapshot manifest
 * ("mode size hash path" lines), for another datastore the external JSON
 * {"format": "ferry-external-files/1", "files": [{path, source, size, modified_at}]}.
 */
export function parseDatasetManifest(text: string): DatasetFile[] {
  const t = text.trimStart();
  if (t.startsWith('{')) {
    let doc: any;
    try {
      doc = JSON.parse(t);
    } catch (e) {
      throw new Error(`the dataset's file list is not valid JSON: ${(e as Error).message}`);
    }
    if (!doc || !Array.isArray(doc.files)) throw new Error("the dataset's file list has no 'files'");
    return doc.files.map((f: any, i: number) => {
      if (!f || typeof f.path !== 'string') throw new Error(`the dataset's file list: files[${i}] has no path`);
      return {
        path: f.path,
        size: Number(f.size) || 0,
        source: typeof f.source === 'string' ? f.source : f.path,
        modified_at: Number(f.modified_at) || 0,
      };
    });
  }
  return parseManifest(text).map((e) => ({ path: e.path, size: e.size, hash: e.hash }));
}

export interface ListedFile {
  path: string;
  size: number;
  modified_at?: number;
}

export interface DirEntry {
  /** The name below the directory shown ("2024" for a directory, "a.csv" for a file). */
  name: string;
  /** Full path: the directory's (no trailing "/") or the file's. */
  path: string;
  dir: boolean;
  size: number;
  /** Files below (1 for a file). */
  files: number;
  /** The newest modification time below. */
  modified_at: number;
}

/** "a/b/" → "a/b"; "" stays "". */
export function normalizeDir(dir: string): string {
  return dir.replace(/^\/+/, '').replace(/\/+$/, '');
}

/**
 * One directory of a flat, recursive listing (GET /datastores/{name}/files?prefix=dir): the
 * subdirectories (with their files' count, total size and newest time) and the files directly
 * in it; directories first, each sorted by name. Files outside dir (a prefix match such as
 * "data2/x" for "data") are left out.
 */
export function listDir(files: ListedFile[], dir: string): DirEntry[] {
  const base = normalizeDir(dir);
  const start = base ? base + '/' : '';
  const dirs = new Map<string, DirEntry>();
  const out: DirEntry[] = [];
  for (const f of files) {
    if (!f.path.startsWith(start)) continue;
    const rest = f.path.slice(start.length);
    if (!rest) continue;
    const slash = rest.indexOf('/');
    const mtime = f.modified_at || 0;
    if (slash < 0) {
      out.push({ name: rest, path: f.path, dir: false, size: f.size, files: 1, modified_at: mtime });
      continue;
    }
    const name = rest.slice(0, slash);
    let d = dirs.get(name);
    if (!d) {
      d = { name, path: start + name, dir: true, size: 0, files: 0, modified_at: 0 };
      dirs.set(name, d);
    }
    d.size += f.size;
    d.files += 1;
    d.modified_at = Math.max(d.modified_at, mtime);
  }
  const byName = (a: DirEntry, b: DirEntry) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return [...[...dirs.values()].sort(byName), ...out.sort(byName)];
}

/** The breadcrumbs of a directory: [["", root], ["a", "a"], ["b", "a/b"]]. */
export function crumbs(dir: string): { name: string; path: string }[] {
  const base = normalizeDir(dir);
  const out = [{ name: '', path: '' }];
  if (!base) return out;
  let at = '';
  for (const part of base.split('/')) {
    at = at ? `${at}/${part}` : part;
    out.push({ name: part, path: at });
  }
  return out;
}
