/**
 * "Did you mean": the candidate closest to what was typed, when it is close enough to be a typo
 * (an edit distance of at most a third of the word, and at most 3), else undefined.
 */
export function closest(typed: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.min(3, Math.floor(typed.length / 3)) + 1;
  for (const candidate of candidates) {
    const d = distance(typed, candidate, bestDistance);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

/** ` (did you mean "x"?)`, or nothing. */
export const didYouMean = (typed: string, candidates: Iterable<string>, quote = (s: string) => `"${s}"`): string => {
  const guess = closest(typed, candidates);
  return guess === undefined ? "" : ` (did you mean ${quote(guess)}?)`;
};

/** Levenshtein distance, giving up (returning `limit`) once it cannot be below it. */
function distance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) return limit;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    if (Math.min(...row) >= limit) return limit;
    previous = row;
  }
  return previous[b.length];
}
