import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

/**
 * Ed25519 verification spread over worker threads. Verifying costs several times what reading
 * a message does, so a consumer that verifies every event is bound by it; the pool lets the
 * governance consumer use every core. Items are split into one chunk per worker; the results
 * come back in the items' order.
 */
export type VerifyItem = { readonly key: Uint8Array; readonly data: Uint8Array; readonly sig: Uint8Array };

export type VerifyPool = {
  readonly size: number;
  verify(items: readonly VerifyItem[]): Promise<boolean[]>;
  close(): Promise<void>;
};

export function startVerifyPool(size = Math.max(1, availableParallelism())): VerifyPool {
  const workers = Array.from({ length: size }, () => new Worker(new URL("./verify-worker.mjs", import.meta.url)));
  const pending = new Map<number, { worker: Worker; resolve: (results: boolean[]) => void; reject: (error: unknown) => void }>();
  let nextId = 0;
  const inFlight = new Map<Worker, number>();
  // An idle pool must not keep the process alive, but a busy one must: a worker is ref'd only
  // while it owes an answer, or the event loop would exit under a pending verify().
  const settle = (worker: Worker, delta: number) => {
    const count = (inFlight.get(worker) ?? 0) + delta;
    inFlight.set(worker, count);
    if (count === 0) worker.unref();
    else worker.ref();
  };
  for (const worker of workers) {
    worker.on("message", ({ id, results }: { id: number; results: boolean[] }) => {
      const request = pending.get(id);
      pending.delete(id);
      settle(worker, -1);
      request?.resolve(results);
    });
    worker.on("error", (error) => {
      for (const [id, request] of pending) {
        if (request.worker !== worker) continue;
        pending.delete(id);
        request.reject(error);
      }
    });
    worker.unref();
  }
  const ask = (worker: Worker, items: readonly VerifyItem[]): Promise<boolean[]> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { worker, resolve, reject });
      settle(worker, +1);
      worker.postMessage({ id, items });
    });
  return {
    size,
    async verify(items) {
      if (items.length === 0) return [];
      const chunk = Math.ceil(items.length / size);
      const parts = await Promise.all(
        workers.map((w, i) => (i * chunk < items.length ? ask(w, items.slice(i * chunk, (i + 1) * chunk)) : Promise.resolve([]))),
      );
      return parts.flat();
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
