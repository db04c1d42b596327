/**
 * Length-sorted batching for the transformer classifier. A batch is padded to its longest row,
 * so a batch that mixes a 6-token headline with a 60-token one spends most of its compute on
 * padding. Sorting the rows by token length first makes each batch's rows alike in length;
 * the results are put back in the caller's order by index.
 */

/**
 * Splits row indices into batches of at most `batchSize`, shortest rows first (ties keep their
 * input order). Every index appears exactly once.
 */
export function lengthSortedBatches(lengths: readonly number[], batchSize: number): number[][] {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
  }
  const order = lengths.map((_, index) => index);
  order.sort((a, b) => (lengths[a] ?? 0) - (lengths[b] ?? 0) || a - b);
  const batches: number[][] = [];
  for (let at = 0; at < order.length; at += batchSize) batches.push(order.slice(at, at + batchSize));
  return batches;
}

export interface PaddedBatch {
  /** Row-major [rows, width], BERT's int64 inputs. */
  inputIds: BigInt64Array;
  attentionMask: BigInt64Array;
  tokenTypeIds: BigInt64Array;
  rows: number;
  /** The longest row's length: every row is padded to it. */
  width: number;
}

/** Pads token-id rows to the longest one (`padId`, mask 0); segment ids are all 0 (one text). */
export function padBatch(rows: readonly (readonly number[])[], padId: number): PaddedBatch {
  const width = rows.reduce((max, row) => Math.max(max, row.length), 0);
  const inputIds = new BigInt64Array(rows.length * width).fill(BigInt(padId));
  const attentionMask = new BigInt64Array(rows.length * width);
  rows.forEach((row, r) => {
    row.forEach((id, c) => {
      inputIds[r * width + c] = BigInt(id);
      attentionMask[r * width + c] = 1n;
    });
  });
  return {
    inputIds,
    attentionMask,
    tokenTypeIds: new BigInt64Array(rows.length * width),
    rows: rows.length,
    width,
  };
}

/** Padded positions a batching spends: sum over batches of rows x longest row minus real tokens. */
export function paddingOf(lengths: readonly number[], batches: readonly (readonly number[])[]): number {
  let padded = 0;
  for (const batch of batches) {
    const width = batch.reduce((max, i) => Math.max(max, lengths[i] ?? 0), 0);
    for (const i of batch) padded += width - (lengths[i] ?? 0);
  }
  return padded;
}

/** Softmax of one row of logits. */
export function softmax(logits: ArrayLike<number>): number[] {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i] ?? 0);
  const exps = Array.from({ length: logits.length }, (_, i) => Math.exp((logits[i] ?? 0) - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}
