// What the figures were measured on: they mean nothing without the machine and its load.
import os from 'node:os';
import { readFileSync } from 'node:fs';
import { toolVersion } from './run.js';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGB: number;
  kernel: string;
  os: string;
  node: string;
  uvThreadpoolSize: string;
  /** 1-minute load averages at the start and end of the run. */
  loadStart: number;
  loadEnd?: number;
  tools: Record<string, string>;
}

function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'));
    return m?.[1] ?? os.type();
  } catch {
    return os.type();
  }
}

export function machine(): Machine {
  const tools: Record<string, string> = {};
  const versions: Array<[string, string[]?]> = [['tar'], ['gzip'], ['pigz'], ['zstd'], ['buildah'], ['skopeo'], ['umoci'], ['runc'], ['docker-registry', ['--version']]];
  for (const [cmd, args] of versions) {
    const v = toolVersion(cmd, args);
    if (v) tools[cmd] = v;
  }
  return {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    os: osName(),
    node: process.version,
    uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ?? 'default (4)',
    loadStart: os.loadavg()[0]!,
    tools,
  };
}
