// The few statistics the report uses. Medians, not means: one slow run (a colleague's test, a page-cache
// miss) must not move the figure.
export function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function min(xs: number[]): number {
  return xs.length === 0 ? Number.NaN : Math.min(...xs);
}

export function max(xs: number[]): number {
  return xs.length === 0 ? Number.NaN : Math.max(...xs);
}
