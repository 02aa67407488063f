/**
 * Time enters only at the boundary: runners read this clock and hand `now` to the machines as
 * event data. Tests pass a fake one; nothing in the math or the reducers reads time.
 */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();
