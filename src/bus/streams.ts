import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { JetStreamApiError, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import { catoptError } from "../core/errors.ts";
import * as v from "../core/validate.ts";
import { PROJECT_ROOT } from "./embedded-server.ts";

/**
 * Stream definitions live as JSON in streams/ (the server's own StreamConfig fields; durations
 * in nanoseconds) and are applied idempotently: created when missing, updated when they differ,
 * left alone when equal.
 */
export const STREAMS_DIR = path.join(PROJECT_ROOT, "streams");
export const EVENTS_STREAM = "CATOPT_EVENTS";

export type StreamAction = { readonly name: string; readonly action: "created" | "updated" | "unchanged" };

export async function loadStreamConfigs(dir = STREAMS_DIR): Promise<StreamConfig[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".json")).sort();
  return Promise.all(
    files.map(async (file) => {
      const at = path.join(dir, file);
      try {
        const config = v.record(JSON.parse(await readFile(at, "utf8")), "stream");
        v.string(config.name, "stream.name");
        v.stringList(config.subjects, "stream.subjects");
        return config as unknown as StreamConfig;
      } catch (err) {
        throw catoptError("STREAM_CONFIG_INVALID", `${at}: ${(err as Error).message}`, err);
      }
    }),
  );
}

/**
 * `replicas` overrides the files' replica count; without it an existing stream keeps its own,
 * so that a plain `catopt run --nats <cluster>` never scales an R3 stream down to the file's R1.
 */
export async function applyStreams(jsm: JetStreamManager, configs: readonly StreamConfig[], replicas?: number): Promise<StreamAction[]> {
  const actions: StreamAction[] = [];
  for (const base of configs) {
    const current = await jsm.streams.info(base.name).catch((err: unknown) => {
      if (err instanceof JetStreamApiError && err.code === 10059) return undefined; // stream not found
      throw err;
    });
    const wanted = { ...base, num_replicas: replicas ?? current?.config.num_replicas ?? base.num_replicas };
    try {
      if (current === undefined) {
        await jsm.streams.add(wanted);
        actions.push({ name: wanted.name, action: "created" });
      } else if (differs(wanted, current.config)) {
        await jsm.streams.update(wanted.name, wanted);
        actions.push({ name: wanted.name, action: "updated" });
      } else {
        actions.push({ name: wanted.name, action: "unchanged" });
      }
    } catch (err) {
      throw catoptError("STREAM_CONFLICT", `stream ${wanted.name}: the server refused its definition: ${(err as Error).message}`, err);
    }
  }
  return actions;
}

function differs(wanted: Partial<StreamConfig>, current: StreamConfig): boolean {
  return Object.entries(wanted).some(([key, value]) => JSON.stringify(current[key as keyof StreamConfig]) !== JSON.stringify(value));
}
