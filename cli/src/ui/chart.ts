/**
 * A small terminal chart of close vs SMA20: one column per candle, `*` the close, `-` the SMA,
 * `#` where both fall in one cell, `|` the column of the recommendation's as_of. Pure, so its
 * output is tested as text.
 */
export function priceChart(
  points: readonly { ts: string; close: number; sma20: number | null }[],
  options: { height?: number; markTs?: string } = {},
): string[] {
  if (points.length === 0) return ["(no candles around as_of)"];
  const height = options.height ?? 10;
  const values = points.flatMap((point) =>
    point.sma20 === null ? [point.close] : [point.close, point.sma20],
  );
  const min = Math.min(...values);
  const max = Math.max(...values);
  const span = max - min || 1;
  const row = (value: number) => Math.round(((max - value) / span) * (height - 1));
  const grid = Array.from({ length: height }, () => Array.from({ length: points.length }, () => " "));
  const markMs = options.markTs === undefined ? undefined : Date.parse(options.markTs);
  let markColumn = -1;
  points.forEach((point, column) => {
    if (markMs !== undefined && Date.parse(point.ts) <= markMs) markColumn = column;
  });
  points.forEach((point, column) => {
    if (column === markColumn) for (const line of grid) line[column] = "|";
    const closeRow = row(point.close);
    const smaRow = point.sma20 === null ? -1 : row(point.sma20);
    const lineAt = (r: number) => grid[r] as string[];
    if (smaRow >= 0) lineAt(smaRow)[column] = "-";
    lineAt(closeRow)[column] = closeRow === smaRow ? "#" : "*";
  });
  const label = (value: number) => value.toFixed(2).padStart(10);
  return grid.map((line, index) => {
    const prefix = index === 0 ? label(max) : index === height - 1 ? label(min) : " ".repeat(10);
    return `${prefix} ┤${line.join("")}`;
  });
}
