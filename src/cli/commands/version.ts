import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../sys/native.js';
import type { Command } from '../command.js';

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

export const versionCommand: Command = {
  name: 'version',
  summary: 'Print the oci-s2i version.',
  args: [],
  params: [],
  async run(ctx) {
    const v = packageVersion();
    ctx.stdout.write(ctx.global.json ? JSON.stringify({ version: v, node: process.version }) + '\n' : `oci-s2i ${v} (node ${process.version})\n`);
    return 0;
  },
};
