// Renders progress events: bars on a terminal, plain lines otherwise, nothing with -q, JSON lines with --json.
// Container output (assemble) goes to stderr so stdout carries only results.
import type { ProgressEvent, ProgressSink } from '../events.js';
import type { GlobalFlags } from './command.js';

function short(d: string): string {
  return d.replace(/^sha256:/, '').slice(0, 12);
}

export function humanBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** Without a terminal, a blob still transferring gets a progress line this often (no bars to redraw). */
const PLAIN_PROGRESS_INTERVAL_MS = 5_000;

export function makeRenderer(
  flags: GlobalFlags,
  out: NodeJS.WriteStream,
  plain: { intervalMs?: number; now?: () => number } = {},
): ProgressSink {
  if (flags.json) {
    return (e: ProgressEvent) => {
      if (e.type === 'output') out.write(JSON.stringify({ type: 'output', stream: e.stream, data: e.data.toString('utf8') }) + '\n');
      else if (e.type !== 'blob' || e.state !== 'progress') out.write(JSON.stringify(e) + '\n');
    };
  }
  if (flags.quiet) {
    return (e) => {
      if (e.type === 'log' && e.level === 'warn') out.write(`warning: ${e.message}\n`);
    };
  }
  const tty = out.isTTY === true;
  const bars = new Map<string, string>();
  // Non-TTY: when each transferring blob last had a line (from its start), for lines at intervals.
  const interval = plain.intervalMs ?? PLAIN_PROGRESS_INTERVAL_MS;
  const now = plain.now ?? Date.now;
  const lastLine = new Map<string, number>();
  let drawn = 0;
  const redraw = () => {
    if (!tty) return;
    if (drawn > 0) out.write(`\x1b[${drawn}A`);
    for (const line of bars.values()) out.write(`\x1b[2K${line}\n`);
    drawn = bars.size;
  };
  const clearBars = () => {
    if (tty && drawn > 0) {
      out.write(`\x1b[${drawn}A\x1b[0J`);
      drawn = 0;
    }
  };
  return (e: ProgressEvent) => {
    switch (e.type) {
      case 'blob': {
        const key = `${e.op} ${e.digest}`;
        const verb = e.op === 'pull' ? 'Pulling' : 'Pushing';
        if (e.state === 'progress' || e.state === 'start') {
          const pct = e.size > 0 ? Math.min(1, e.done / e.size) : 0;
          if (!tty) {
            const t = now();
            const last = lastLine.get(key);
            if (last === undefined) lastLine.set(key, t);
            else if (t - last >= interval) {
              lastLine.set(key, t);
              out.write(`${verb} blob ${short(e.digest)} ${humanBytes(e.done)}/${humanBytes(e.size)} (${Math.floor(pct * 100)}%)\n`);
            }
            return;
          }
          const w = 24;
          const bar = '='.repeat(Math.round(pct * w)).padEnd(w, ' ');
          bars.set(key, `${verb} ${short(e.digest)} [${bar}] ${humanBytes(e.done)}/${humanBytes(e.size)}`);
          redraw();
          return;
        }
        bars.delete(key);
        lastLine.delete(key);
        clearBars();
        const what =
          e.state === 'skipped' ? 'already exists' : e.state === 'mounted' ? 'mounted' : e.state === 'cached' ? 'cached' : 'done';
        out.write(`${verb} blob ${short(e.digest)} ${humanBytes(e.size)} ${what}\n`);
        redraw();
        return;
      }
      case 'step':
        if (flags.loglevel >= 2 && e.state === 'end') out.write(`step ${e.name}: ${e.ms} ms\n`);
        return;
      case 'pull-source':
        clearBars();
        out.write(`Pulling ${e.image} from ${e.mirror ? 'mirror ' : ''}${e.endpoint}\n`);
        redraw();
        return;
      case 'isolation':
        clearBars();
        out.write(`${e.message}\n`);
        redraw();
        return;
      case 'log':
        if (e.level === 'debug' && !flags.debug && flags.loglevel < 2) return;
        clearBars();
        out.write(`${e.level === 'warn' ? 'warning: ' : ''}${e.message}\n`);
        redraw();
        return;
      case 'output':
        clearBars();
        out.write(e.data);
        redraw();
        return;
    }
  };
}

/** How long ago `d` was, in the largest whole unit ("-" when unknown). */
export function ago(d: Date | undefined, now: number): string {
  if (!d) return '-';
  const s = Math.max(0, Math.round((now - d.getTime()) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

/** Rows as aligned columns (the first row: the headings), two spaces apart, each line ending in a newline. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}
