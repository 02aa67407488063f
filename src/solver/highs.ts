import highsModule from "highs";

/** HiGHS (WebAssembly), loaded once per process. */
export type Highs = Awaited<ReturnType<typeof highsModule.default>>;

// highs's types describe its CommonJS build (whose default export sits on .default), while
// Node loads its ESM build, whose default export is the loader itself.
const load = highsModule as unknown as typeof highsModule.default;
let highs: Promise<Highs> | undefined;

export function loadHighs(): Promise<Highs> {
  highs ??= load();
  return highs;
}
