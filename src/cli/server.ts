import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { startEmbeddedServer } from "../bus/embedded-server.ts";
import { startLocalCluster } from "../bus/local-cluster.ts";
import { openBus } from "../bus/session.ts";
import { makeClientTls, makeLocalTls } from "../bus/tls-files.ts";
import { writePrivateFile } from "../bus/private-file.ts";
import { stringOption, type Command } from "../core/command.ts";
import { catoptError } from "../core/errors.ts";
import { ROLES, type Role } from "../core/schemas.ts";
import { governanceSubject, isToken } from "../core/subjects.ts";
import { startGovernance } from "../governance/governance-consumer.ts";
import { admitEvent } from "../governance/governance-events.ts";
import { loadIdentity } from "../governance/keystore.ts";
import { tlsConfig } from "../governance/local-security.ts";
import { serverAuthConfig } from "../governance/nats-accounts.ts";
import { publishEvent } from "../governance/signed-publish.ts";
import { LEDGER_ORIGIN } from "../run/run-scenario.ts";
import { governanceAccess } from "./connect-options.ts";
import { issueTo } from "./creds.ts";
import { startCredentialService } from "./governance.ts";
import { KEYS_OPTION, keyDirOf } from "./identity-options.ts";

export const serverCommand: Command = {
  name: "server",
  synopsis: "[--cluster] [--admit <role>:<tenant>:<name>,...] [options]",
  summary: "start a local secured deployment: nats-server with TLS and the governance identity as trust root, its ledger and credential service",
  description:
    "Starts nats-server on loopback (three, clustered over TLS routes, with --cluster), in operator mode with the governance key of the key directory as trust root and TLS with a CA of its own (written to --dir), creates the streams, admits the parties --admit names (their keys must be in the key directory) and writes each one's credentials next to its key, then runs the governance service (the ledger's writer, which also renews credentials and pushes revocations) until Ctrl-C. No monitoring port is opened.",
  options: {
    cluster: { type: "boolean", description: "three servers in a JetStream cluster instead of one, streams with three replicas" },
    admit: { type: "string", value: "<role>:<tenant>:<name>,...", description: `admit these parties and write their credentials (roles: ${ROLES.join(", ")})` },
    dir: { type: "string", value: "<dir>", description: "where the CA and the server's certificate go (default ./catopt-deployment)" },
    ttl: { type: "string", value: "<seconds>", description: "lifetime of the credentials written (default 3600; 900 for a viewer)" },
    "mutual-tls": {
      type: "boolean",
      description: "clients must show a certificate of the CA too (one is written for this machine: client.pem, client-key.pem)",
    },
    "config-only": {
      type: "boolean",
      description: "write operator.conf (the trust root's operator and accounts) and tls.conf into --dir for servers you run yourself, and start nothing",
    },
    keys: KEYS_OPTION,
  },
  details: [
    "Example (one machine; see README §7):",
    "  catopt server --admit coordinator:cosmos:coordinator,agent:cosmos:rover,agent:cosmos:drone,agent:cosmos:habitat,viewer:cosmos:ops",
  ],
  run: async (args, io) => {
    const keys = keyDirOf(args);
    if (!existsSync(path.join(keys, "governance.key")))
      throw catoptError("KEY_MISSING", `no governance key in ${keys}: make one with catopt id new --name governance`);
    const governance = await loadIdentity(keys, "governance");
    const parties = parseAdmissions(stringOption(args, "admit") ?? "");
    const dir = path.resolve(stringOption(args, "dir") ?? "catopt-deployment");
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tls = await makeLocalTls(dir);
    const mutual = args.values["mutual-tls"] === true;
    const client = mutual ? await makeClientTls(tls, dir, "client") : undefined;
    const clientTls = { caFile: tls.caFile, ...(client ?? {}) };
    const serverConfig = serverAuthConfig(governance) + tlsConfig(tls, mutual);
    // What a nats-server of one's own includes: the operator and accounts (no secret in them), and TLS with this CA (or one's own).
    await writePrivateFile(path.join(dir, "operator.conf"), `# catopt-flow: trust root ${governance.did}\n${serverAuthConfig(governance)}`);
    await writePrivateFile(path.join(dir, "tls.conf"), tlsConfig(tls, mutual));
    if (args.values["config-only"] === true) {
      io.out(
        [
          `wrote ${path.join(dir, "operator.conf")} (operator mode, trust root ${governance.did}) and ${path.join(dir, "tls.conf")} (CA ${tls.caFile})`,
          "in each server's configuration: include operator.conf, and tls.conf or a tls block of your own CA's files",
          "",
        ].join("\n"),
      );
      return 0;
    }
    const access = governanceAccess(governance);
    const cluster = args.values.cluster === true;
    const servers = cluster
      ? await startLocalCluster(3, { serverConfig, routeTls: tls, probe: { access, tls: clientTls } })
      : await startEmbeddedServer({ extraConfig: serverConfig });
    const bus = await openBus({
      url: servers.url,
      name: "catopt-server",
      replicas: cluster ? 3 : undefined,
      security: { access, tls: clientTls },
    });
    try {
      for (const s of bus.streams) io.out(`stream ${s.name}: ${s.action}\n`);
      for (const p of parties) {
        const did = (await loadIdentity(keys, p.name)).did;
        await publishEvent(bus.js, governanceSubject(p.tenant, "admit"), admitEvent(p.tenant, did, p.role, p.name), governance);
      }
      for (const name of new Set(parties.map((p) => p.name))) {
        const file = await issueTo(bus.js, governance, { did: (await loadIdentity(keys, name)).did, name }, path.join(keys, `${name}.jwt`), args);
        io.out(`credentials of ${name}: ${file}\n`);
      }
      const consumer = await startGovernance({ nc: bus.nc, signer: governance, origin: LEDGER_ORIGIN });
      const credentials = await startCredentialService(bus, governance, () => consumer.admission(), io);
      io.out(
        [
          `nats-server${cluster ? " cluster" : ""} at ${servers.url}: TLS (CA ${tls.caFile}), operator mode with trust root ${governance.did}; loopback only, no monitoring port`,
          "governance service: writes the ledger, renews credentials, pushes revocations (Ctrl-C stops it all)",
          "in another shell:",
          `  export CATOPT_NATS_URL=${servers.url} CATOPT_TLS_CA=${tls.caFile} CATOPT_GOVERNANCE=${governance.did}${client === undefined ? "" : ` CATOPT_TLS_CERT=${client.certFile} CATOPT_TLS_KEY=${client.keyFile}`}`,
          "",
        ].join("\n"),
      );
      const stopped = await Promise.race([
        new Promise<undefined>((resolve) => process.once("SIGINT", () => resolve(undefined)).once("SIGTERM", () => resolve(undefined))),
        consumer.failed,
      ]);
      credentials.stop();
      if (stopped !== undefined) throw catoptError("RUN_FAILED", `the governance service stopped: ${stopped.message}`, stopped);
      const summary = await consumer.stop();
      io.out(`stopped: ledger of ${summary.size} entries, root ${summary.root}\n`);
      return 0;
    } finally {
      await bus.close();
      await servers.stop();
    }
  },
};

type Admission = { readonly role: Role; readonly tenant: string; readonly name: string };

function parseAdmissions(text: string): Admission[] {
  return text
    .split(",")
    .filter((item) => item.trim() !== "")
    .map((item) => {
      const [role, tenant, name, ...rest] = item.trim().split(":");
      if (rest.length > 0 || name === undefined) throw catoptError("USAGE", `--admit "${item}": expected <role>:<tenant>:<name>`);
      if (!(ROLES as readonly string[]).includes(role)) throw catoptError("USAGE", `--admit "${item}": the role must be one of ${ROLES.join(", ")}`);
      if (!isToken(tenant) || !isToken(name)) throw catoptError("USAGE", `--admit "${item}": tenant and name must be 1-64 letters, digits, '-' or '_'`);
      return { role: role as Role, tenant, name };
    });
}
