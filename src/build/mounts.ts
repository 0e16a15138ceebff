// Extra mounts of the assemble sandbox: --inject (read-only, never in a layer), -v/--volume (read-write
// binds) and --add-host (a generated /etc/hosts). Parsed and checked before anything is pulled.
import { stat, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { S2IError } from '../errors.js';
import type { Mount } from '../sandbox/spec.js';

export interface BindSpec {
  source: string;
  /** Absolute path in the container. */
  destination: string;
}

/** Paths a bind may not cover: the runtime's own mounts and the root. */
const forbidden = ['/', '/proc', '/sys', '/dev'];

function bad(flag: string, item: string, why: string): S2IError {
  return new S2IError('ERR_BAD_MOUNT', `${flag} "${item}": ${why}`);
}

/**
 * Parses `SRC:DST` items (each flag value may hold several, `;`-separated). A relative DST is under `workdir`.
 * SRC must exist; DST must not climb out with `..` nor cover /, /proc, /sys or /dev.
 */
export async function parseBinds(flag: string, values: string[], workdir: string): Promise<BindSpec[]> {
  const out: BindSpec[] = [];
  for (const item of values.flatMap((v) => v.split(';')).map((v) => v.trim()).filter(Boolean)) {
    const colon = item.indexOf(':');
    if (colon <= 0 || colon === item.length - 1) throw bad(flag, item, 'use SOURCE:DESTINATION');
    const src = path.resolve(item.slice(0, colon));
    const dstRaw = item.slice(colon + 1);
    if (dstRaw.split('/').includes('..')) throw bad(flag, item, 'the destination may not contain ".."');
    const dst = path.posix.normalize(dstRaw.startsWith('/') ? dstRaw : path.posix.join(workdir || '/', dstRaw)).replace(/\/+$/, '') || '/';
    if (forbidden.some((f) => dst === f || (f !== '/' && dst.startsWith(f + '/')))) throw bad(flag, item, `the destination ${dst} is reserved`);
    if (!(await stat(src).catch(() => undefined))) throw bad(flag, item, `the source ${src} does not exist`);
    out.push({ source: src, destination: dst });
  }
  return out;
}

export function bindMounts(binds: BindSpec[], readOnly: boolean): Mount[] {
  return binds.map((b) => ({ destination: b.destination, type: 'bind', source: b.source, options: ['rbind', readOnly ? 'ro' : 'rw'] }));
}

/** `--add-host HOST:IP` items (docker syntax; IPv6 addresses keep their colons). */
export function parseAddHosts(values: string[]): Array<[string, string]> {
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
export async function writeHostsFile(file: string, hosts: Array<[string, string]>): Promise<string> {
  const base = await readFile('/etc/hosts', 'utf8').catch(() => '127.0.0.1\tlocalhost\n::1\tlocalhost\n');
  await writeFile(file, base.replace(/\n?$/, '\n') + hosts.map(([h, ip]) => `${ip}\t${h}\n`).join(''), { mode: 0o644 });
  return file;
}
