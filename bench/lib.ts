/**
 * Benchmark helpers, per BENCHMARKING.md: warm up, run several times, report the median, and
 * print every figure beside a baseline measured in the same process.
 */
export interface Measurement {
  label: string;
  /** Median of the runs, in the unit named. */
  value: number;
  unit: string;
  runs: number[];
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Runs `fn` `warmup` times unmeasured, then `repeat` times; returns the median duration in ms. */
export async function timeIt(
  fn: () => Promise<void> | void,
  options: { warmup?: number; repeat?: number } = {},
) {
  for (let i = 0; i < (options.warmup ?? 1); i++) await fn();
  const runs: number[] = [];
  for (let i = 0; i < (options.repeat ?? 5); i++) {
    const started = performance.now();
    await fn();
    runs.push(performance.now() - started);
  }
  return { medianMs: median(runs), runs };
}

/** Prints a result table: each row beside the baseline row, as a ratio. */
export function report(
  title: string,
  command: string,
  baseline: Measurement,
  others: readonly Measurement[],
): void {
  const lines = [`\n## ${title}`, `reproduce: ${command}`];
  const fmt = (m: Measurement) => `${m.value.toFixed(m.value < 10 ? 2 : 1)} ${m.unit}`;
  lines.push(`  baseline  ${baseline.label.padEnd(44)} ${fmt(baseline)}`);
  for (const m of others) {
    const ratio = baseline.value === 0 ? Number.NaN : m.value / baseline.value;
    lines.push(`            ${m.label.padEnd(44)} ${fmt(m)}  (${ratio.toFixed(2)}× baseline)`);
  }
  console.log(lines.join("\n"));
}
