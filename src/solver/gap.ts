export function relativeGap(value: number, reference: number): number {
  return Math.abs(value - reference) / Math.max(1, Math.abs(reference));
}
