// Extra mounts of the assemble sandbox: -v/--volume (read-write binds, or read-only with :ro) and --add-host (a generated /etc/hosts). Parsed and checked by the CLI before anything is pulled; a
// relative destination is placed under the builder's WORKDIR once it is known.
import { statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { S2IError } from '../errors.js';
import type { Mount } from '../sandbox/spec.js';

export interface BindSpec {
  /** Absolute path on the host (it existed when parsed). */
  source: string;
  /** Path in the container: absolute, or relative to the builder's WORKDIR (placed by bindMounts). */
  destination: string;
  /** -v/--volume `SRC:DST:ro` (or `:rw`, the default): how the volume is mounted. */
  mode?: 'ro' | 'rw';
}

/** An --add-host entry: [host name, IP address]. */
export type HostEntry = [string, string];

/** Paths a bind may not cover: the runtime's own mounts and the root. */
const forbidden = ['/', '/proc', '/sys', '/dev'];

function bad(flag: string, item: string, why: string): S2IError {
  return new S2IError('ERR_BAD_MOUNT', `${flag} "${item}": ${why}`);
}

function reserved(dst: string): boolean {
  return forbidden.some((f) => dst === f || (f !== '/' && dst.startsWith(f + '/')));
}

function normalize(dst: string): string {
  return path.posix.normalize(dst).replace(/\/+$/, '') || '/';
}

/**
 * Parses `SRC:DST` items of --volume (each flag value may hold several, `;`-separated).
 * SRC must exist; DST must not climb out with `..` nor cover /, /proc, /sys or /dev.
 */
function parseBinds(values: string[]): BindSpec[] {
  const flag = '--volume';
  const out: BindSpec[] = [];
  for (const item of values.flatMap((v) => v.split(';')).map((v) => v.trim()).filter(Boolean)) {
    const colon = item.indexOf(':');
    if (colon <= 0 || colon === item.length - 1) throw bad(flag, item, 'use SOURCE:DESTINATION');
    const src = path.resolve(item.slice(0, colon));
    const dstRaw = item.slice(colon + 1);
    if (dstRaw.split('/').includes('..')) throw bad(flag, item, 'the destination may not contain ".."');
    const dst = dstRaw.startsWith('/') ? normalize(dstRaw) : dstRaw;
    if (dst.startsWith('/') && reserved(dst)) throw bad(flag, item, `the destination ${dst} is reserved`);
    if (!statSync(src, { throwIfNoEntry: false })) throw bad(flag, item, `the source ${src} does not exist`);
    out.push({ source: src, destination: dst });
  }
  return out;
}

/**
 * -v/--volume items as s2i (docker) takes them: `SRC:DST` or `SRC:DST:OPTIONS`, OPTIONS `ro` or `rw`
 * (comma-separated, the last wins); each flag value may hold several, `;`-separated, as parseBinds takes them.
 */
export function parseVolumes(values: string[]): BindSpec[] {
  const out: BindSpec[] = [];
  for (const item of values.flatMap((v) => v.split(';')).map((v) => v.trim()).filter(Boolean)) {
    const parts = item.split(':');
    let mode: 'ro' | 'rw' | undefined;
    let spec = item;
    if (parts.length > 2) {
      const opts = parts[parts.length - 1]!.split(',');
      for (const o of opts) {
        if (o !== 'ro' && o !== 'rw') throw bad('--volume', item, `option "${o.slice(0, 40)}" is not supported: use SOURCE:DESTINATION, SOURCE:DESTINATION:ro or SOURCE:DESTINATION:rw`);
        mode = o;
      }
      spec = parts.slice(0, -1).join(':');
    }
    for (const b of parseBinds([spec])) out.push(mode ? { ...b, mode } : b);
  }
  return out;
}

/** The sandbox mounts of `binds`, relative destinations placed under `workdir` (which may not make them reserved). */
export function bindMounts(binds: BindSpec[], workdir: string): Mount[] {
  return binds.map((b) => {
    const destination = b.destination.startsWith('/') ? b.destination : normalize(path.posix.join(workdir || '/', b.destination));
    if (reserved(destination)) throw bad('--volume', `${b.source}:${b.destination}`, `the destination ${destination} is reserved`);
    return { destination, type: 'bind', source: b.source, options: ['rbind', b.mode === 'ro' ? 'ro' : 'rw'] };
  });
}

/** `--add-host HOST:IP` items (docker syntax; IPv6 addresses keep their colons). */
export function parseAddHosts(values: string[]): HostEntry[] {
  return values.map((v) => {
    const colon = v.indexOf(':');
    const host = colon < 0 ? '' : v.slice(0, colon);
    const ip = colon < 0 ? '' : v.slice(colon + 1);
    if (!/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host) || isIP(ip) === 0) {
      throw new S2IError('ERR_BAD_ADD_HOST', `--add-host "${v}": use HOST:IP, e.g. db.local:10.0.0.5`);
    }
    return [host, ip];
  });
}

/** Writes the sandbox's /etc/hosts: the host's entries plus the added ones. */
export async function writeHostsFile(file: string, hosts: HostEntry[]): Promise<string> {
  const base = await readFile('/etc/hosts', 'utf8').catch(() => '127.0.0.1\tlocalhost\n::1\tlocalhost\n');
  await writeFile(file, base.replace(/\n?$/, '\n') + hosts.map(([h, ip]) => `${ip}\t${h}\n`).join(''), { mode: 0o644 });
  return file;
}
