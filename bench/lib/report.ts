// Writes bench/results/latest.{json,md,svg}: the raw samples, a markdown table per comparison (ratios, targets,
// the machine and its load), and a bar chart drawn by hand (no plotting dependency).
import { writeFileSync, mkdirSync, renameSync } from 'node:fs';
import path from 'node:path';
import type { Comparison, VariantResult } from './compare.js';
import { existsSync, readFileSync } from 'node:fs';
import type { Machine } from './machine.js';

export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  runs: number;
  machine: Machine;
  comparisons: Comparison[];
  /** Benchmarks or comparisons that could not run here, with the reason. */
  skipped: string[];
}

export const s = (ms: number): string => (Number.isFinite(ms) ? (ms / 1000).toFixed(ms < 10_000 ? 2 : 1) : '–');
export const mb = (bytes: number): string => (Number.isFinite(bytes) ? (bytes / 1e6).toFixed(bytes < 10e6 ? 2 : 1) : '–');
export const x = (r: number): string => (Number.isFinite(r) ? `${r.toFixed(2)}×` : '–');

/** A table cell: a `|` inside would end it. */
const cell = (t: string): string => t.replace(/\|/g, '\\|');

function row(v: VariantResult, c: Comparison): string {
  const name = v.ours ? `**${cell(v.name)}**` : cell(v.name);
  if (v.skipped) return `| ${name} | skipped: ${cell(v.skipped)} |${' |'.repeat(c.columns.length + 2)}`;
  const base = c.baseline ? c.variants.find((b) => b.name === c.baseline && !b.skipped) : undefined;
  const ratio = base ? x(v.medianMs / base.medianMs) : '–';
  const cols = c.columns.map((col) => {
    const val = v.metrics[col.key];
    if (val === undefined || !Number.isFinite(val)) return '–';
    switch (col.kind) {
      case 'mb': return mb(val);
      case 'bytes': return val < 1e6 ? `${(val / 1e3).toFixed(1)} kB` : `${mb(val)} MB`;
      case 'rate': return val.toFixed(1);
      case 'count': return String(val);
      case 'ratio': {
        const of = c.variants.find((a) => a.name === col.of && !a.skipped)?.metrics[col.key];
        return of ? x(val / of) : '–';
      }
    }
  });
  const spread = `${s(v.minMs)}–${s(v.maxMs)}`;
  const rss = v.medianRssMB !== undefined ? v.medianRssMB.toFixed(0) : '–';
  return `| ${name} | ${s(v.medianMs)} (${spread}) | ${ratio} | ${cols.join(' | ')}${cols.length ? ' | ' : ''}${rss} |`;
}

export function markdown(r: BenchReport): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(`# oci-s2i benchmarks — ${r.finishedAt.slice(0, 10)}`, '');
  out.push(`Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGB} GB RAM; ${m.os}, kernel ${m.kernel}; Node ${m.node}` +
    ` (UV_THREADPOOL_SIZE ${m.uvThreadpoolSize}). Load average (1 min): ${m.loadStart.toFixed(2)} at start, ${m.loadEnd?.toFixed(2) ?? '?'} at end.`);
  out.push(`Medians of ${r.runs} interleaved runs (A B C … A B C …, after one untimed warm-up round); (min–max) in brackets.` +
    ' Times are wall-clock from process start to exit, measured the same way for every tool; peak RSS is the largest' +
    ' process of the command\'s tree (GNU time %M). **Bold** rows are oci-s2i.', '');
  out.push('Tools: ' + Object.entries(m.tools).map(([k, v]) => `${k} (${v})`).join('; '), '');
  for (const c of r.comparisons) {
    out.push(`## ${c.title}`, '');
    const extra = c.columns.map((col) => col.header);
    out.push(`| variant | time s | time ÷ ${cell(c.baseline ?? '–')} | ${extra.map(cell).join(' | ')}${extra.length ? ' | ' : ''}peak RSS MB |`);
    out.push(`|---|---:|---:|${extra.map(() => '---:|').join('')}---:|`);
    for (const v of c.variants) out.push(row(v, c));
    out.push('', `Load average during this comparison: ${c.load[0].toFixed(2)} → ${c.load[1].toFixed(2)}${c.measuredAt ? ` (measured ${c.measuredAt.slice(0, 16).replace('T', ' ')} UTC)` : ''}.`);
    for (const t of c.targets) {
      out.push(`- Target ${t.what} ${t.goal}: ${t.met === null ? '**not measured**' : t.met ? '**met**' : '**missed**'} — ${t.detail}`);
    }
    for (const n of c.notes) out.push(`- ${n}`);
    out.push('');
  }
  if (r.skipped.length > 0) {
    out.push('## Skipped', '');
    for (const sk of r.skipped) out.push(`- ${sk}`);
    out.push('');
  }
  return out.join('\n');
}

function esc(t: string): string {
  return t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** One panel per comparison: a horizontal bar per variant, length = median time, oci-s2i in blue. */
export function svg(r: BenchReport): string {
  const W = 900;
  const label = 330;
  const barMax = W - label - 110;
  const rowH = 20;
  const parts: string[] = [];
  let y = 40;
  parts.push(`<text x="10" y="24" font-size="16" font-weight="bold">oci-s2i benchmarks: median wall time per variant (shorter is better)</text>`);
  for (const c of r.comparisons) {
    const live = c.variants.filter((v) => !v.skipped);
    if (live.length === 0) continue;
    const top = Math.max(...live.map((v) => v.maxMs));
    y += 16;
    parts.push(`<text x="10" y="${y}" font-size="13" font-weight="bold">${esc(c.title)}</text>`);
    y += 8;
    for (const v of live) {
      const w = Math.max(1, (v.medianMs / top) * barMax);
      const lo = (v.minMs / top) * barMax;
      const hi = (v.maxMs / top) * barMax;
      parts.push(`<text x="${label - 6}" y="${y + 14}" font-size="11" text-anchor="end">${esc(v.name)}</text>`);
      parts.push(`<rect x="${label}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${v.ours ? '#2b6cb0' : '#a0aec0'}"/>`);
      parts.push(`<line x1="${(label + lo).toFixed(1)}" y1="${y + rowH / 2}" x2="${(label + hi).toFixed(1)}" y2="${y + rowH / 2}" stroke="#1a202c" stroke-width="1"/>`);
      parts.push(`<text x="${(label + w + 6).toFixed(1)}" y="${y + 14}" font-size="11">${s(v.medianMs)} s</text>`);
      y += rowH;
    }
    y += 6;
  }
  const m = r.machine;
  y += 10;
  parts.push(`<text x="10" y="${y}" font-size="10" fill="#4a5568">${esc(`${m.cpu}, ${m.cores} cores, kernel ${m.kernel}, Node ${m.node}; medians of ${r.runs} interleaved runs; whiskers: min–max; load ${m.loadStart.toFixed(1)}→${m.loadEnd?.toFixed(1) ?? '?'}`)}</text>`);
  y += 12;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y}" viewBox="0 0 ${W} ${y}" font-family="sans-serif">\n` +
    `<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}

/** The saved tables this run does not replace: other benchmarks (`npm run bench -- layer` keeps the build
 *  figures of the last full run) and the same benchmarks of the other set (`--go` or not); each keeps its own
 *  date and load line. */
export function previousComparisons(dir: string, except: Set<string>, set = 'default', keep: (c: Comparison) => boolean = () => false): Comparison[] {
  const file = path.join(dir, 'latest.json');
  if (!existsSync(file)) return [];
  try {
    const old = JSON.parse(readFileSync(file, 'utf8')) as BenchReport;
    return old.comparisons
      .filter((c) => keep(c) || !(except.has(c.bench) && (c.set ?? 'default') === set))
      .map((c) => ({ ...c, measuredAt: c.measuredAt ?? old.finishedAt }));
  } catch {
    return [];
  }
}

function write(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** Writes latest.json, latest.md and latest.svg into `dir`; returns the markdown. */
export function writeReport(dir: string, r: BenchReport): string {
  mkdirSync(dir, { recursive: true });
  const md = markdown(r);
  write(path.join(dir, 'latest.json'), JSON.stringify(r, null, 2) + '\n');
  write(path.join(dir, 'latest.md'), md + '\n![chart](latest.svg)\n');
  write(path.join(dir, 'latest.svg'), svg(r));
  return md;
}
