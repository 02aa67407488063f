import { createHash } from "node:crypto";
import { encode, type Wire } from "../core/codec.ts";
import type { ReplayState } from "./reducer.ts";

/** SHA-256 of the state's canonical msgpack encoding, hex. Equal states give equal hashes. */
export function stateHash(state: ReplayState): string {
  return createHash("sha256")
    .update(encode(state as unknown as Wire))
    .digest("hex");
}
