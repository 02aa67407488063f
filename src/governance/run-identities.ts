import { generateIdentity, type Identity } from "./identity.ts";
import { loadIdentity } from "./keystore.ts";

/**
 * The identities a run signs with: the governance identity (the trust root), the coordinator,
 * and one per agent. From a key directory (names "governance", "coordinator" and each agent's
 * name) when given; otherwise fresh ones that live as long as the run (the embedded default).
 */
export type RunIdentities = {
  readonly governance: Identity;
  readonly coordinator: Identity;
  readonly agents: ReadonlyMap<string, Identity>;
  readonly ephemeral: boolean;
};

export async function runIdentities(agents: readonly string[], keyDir?: string): Promise<RunIdentities> {
  if (keyDir === undefined) {
    return {
      governance: generateIdentity("governance"),
      coordinator: generateIdentity("coordinator"),
      agents: new Map(agents.map((a) => [a, generateIdentity(a)])),
      ephemeral: true,
    };
  }
  return {
    governance: await loadIdentity(keyDir, "governance"),
    coordinator: await loadIdentity(keyDir, "coordinator"),
    agents: new Map(await Promise.all(agents.map(async (a) => [a, await loadIdentity(keyDir, a)] as const))),
    ephemeral: false,
  };
}
