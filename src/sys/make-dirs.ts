// `mkdir -p` with a bound, for directories a user names (--root, oci:DIR, an archive's parent). Not
// fs.mkdir({ recursive: true }): Node's recursive mkdir takes every ENOENT to mean "the parent is missing",
// creates the parent (EEXIST: fine) and tries the child again, forever, when the file system refuses the child
// with ENOENT under a parent that exists (`/proc/1/x`): a pool thread spinning at full CPU that no signal stops.
// Here each missing component gets one mkdir(2), top-down, so the work is bounded by the depth of the path.
import fs from 'node:fs/promises';
import path from 'node:path';

function errno(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

/**
 * Creates `dir` and its missing parents (mode as for mkdir(2), before the umask). Returns the top-most
 * directory it created (the one to remove to undo the call), or undefined when `dir` already existed. Throws
 * the errno error of the first mkdir/stat that fails (ENOTDIR when a component is a file).
 */
export async function makeDirs(dir: string, mode = 0o777): Promise<string | undefined> {
  const missing: string[] = [];
  for (let p = path.resolve(dir); ; ) {
    let st;
    try {
      st = await fs.stat(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (st) {
      if (!st.isDirectory()) throw errno('ENOTDIR', `ENOTDIR: not a directory, mkdir '${p}'`);
      break;
    }
    missing.push(p);
    const parent = path.dirname(p);
    if (parent === p) break;
    p = parent;
  }
  let top: string | undefined;
  for (const d of missing.reverse()) {
    try {
      await fs.mkdir(d, { mode });
      top ??= d;
    } catch (e) {
      // Made meanwhile by another process: fine when it is a directory (then it is not ours to undo).
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !(await fs.stat(d)).isDirectory()) throw e;
    }
  }
  return top;
}
