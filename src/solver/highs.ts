import type highsModule from "highs";

/** HiGHS (WebAssembly), loaded once per process, and only by a process that solves: a command that never does starts faster. */
export type Highs = Awaited<ReturnType<typeof highsModule.default>>;

let highs: Promise<Highs> | undefined;

export function loadHighs(): Promise<Highs> {
  // highs's types describe its CommonJS build (whose default export sits on .default), while
  // Node loads its ESM build, whose default export is the loader itself.
  highs ??= import("highs").then((m) => (m.default as unknown as typeof highsModule.default)());
  return highs;
}
