import type { Role } from "../core/schemas.ts";
import { isToken } from "../core/subjects.ts";
import type { AdmissionState } from "./admission.ts";

/**
 * What a party may publish and subscribe to on the NATS server, derived from the roles the
 * governance events gave its DID (admission.ts): the server's wall, in front of the fold's own
 * checks. Everything not allowed is refused, because a user JWT's permissions are allow-lists.
 *
 * Reads go through JetStream consumers, so a read permission is a permission to publish a
 * consumer create request whose subject names the filter ($JS.API.CONSUMER.CREATE.<stream>.
 * <name>.<filter>): nats-server 2.9 refuses a request whose body filter differs from the
 * subject's (error 10131), and a published wildcard is a literal token that never matches a
 * narrower allow, so the permission pins what the consumer delivers. Nobody but governance and
 * auditors may read a stream's info (it can list every subject with counts), get a message by
 * sequence or subject (any message), list consumers or read JetStream advisories.
 *
 * A consumer's push subject is not checked by nats-server 2.9 (jetstream_api.go): a reader may
 * have the server copy messages it can read onto any subject that has a core subscriber. Copies
 * into the event stream are refused as a cycle, and nothing core-subscribes to the ledger's
 * subjects; every core subscription of ours checks what it receives (README §7).
 */
export type NatsPermissions = {
  readonly pub: { readonly allow: readonly string[]; readonly deny?: readonly string[] };
  readonly sub: { readonly allow: readonly string[]; readonly deny?: readonly string[] };
  /** May answer requests sent to it (the credential service): one reply each, within a minute. */
  readonly resp?: { readonly max: number; readonly ttl: number };
};

/** A role granted in a tenant; governance is the trust root's own service, everywhere. */
export type Grant = { readonly role: Role | "governance"; readonly tenant: string; readonly name: string };

export const EVENTS_STREAM_NAME = "CATOPT_EVENTS";
export const LEDGER_STREAM_NAME = "CATOPT_LEDGER";
/** Where a party asks the governance service for a fresh JWT (three tokens: outside both streams). */
export const RENEW_SUBJECT = "catopt.creds.renew";

const API = "$JS.API";
const readOf = (stream: string, filter: string): string => `${API}.CONSUMER.CREATE.${stream}.*.${filter}`;

/** A user's inboxes: its own, so no one else can subscribe to its replies. */
export const inboxPrefixOf = (userNkey: string): string => `_INBOX_${userNkey}`;

/** Every role a DID holds now, in every tenant (revoked ones hold none). */
export function grantsOf(admission: AdmissionState, did: string): Grant[] {
  const grants: Grant[] = [];
  for (const [tenant, admitted] of Object.entries(admission.admitted)) {
    const entry = admitted[did];
    if (entry !== undefined && admission.revoked[tenant]?.[did] === undefined) grants.push({ role: entry.role, tenant, name: entry.name });
  }
  return grants.sort((a, b) => (a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : 0));
}

export function permissionsOf(grants: readonly Grant[], userNkey: string): NatsPermissions {
  const pub = new Set<string>([RENEW_SUBJECT]);
  const sub = new Set<string>([`${inboxPrefixOf(userNkey)}.>`]);
  let resp: NatsPermissions["resp"];
  const consume = (stream: string): void => {
    // Its reads push into its own inbox (bus/read.ts): it answers their flow control and removes
    // them when done (each has a random name nobody else learns). No pulls: a pull names the
    // consumer, so it would read through anyone's consumer whose name is known.
    pub.add(`${API}.CONSUMER.DELETE.${stream}.*`);
    pub.add(`$JS.FC.${stream}.>`);
  };
  for (const grant of grants) {
    const t = grant.tenant;
    // A name or tenant with a wildcard or a dot would widen every subject below: such a grant gives nothing.
    if (grant.role !== "governance" && (!isToken(t) || !isToken(grant.name))) continue;
    switch (grant.role) {
      case "governance":
        pub.add(">");
        sub.add(">");
        resp = { max: 1, ttl: 60_000_000_000 };
        break;
      case "auditor":
        for (const stream of [EVENTS_STREAM_NAME, LEDGER_STREAM_NAME]) {
          pub.add(`${API}.CONSUMER.CREATE.${stream}.>`);
          pub.add(`${API}.STREAM.INFO.${stream}`);
          pub.add(`${API}.STREAM.MSG.GET.${stream}`);
          consume(stream);
        }
        break;
      case "coordinator":
        pub.add(`catopt.${t}.plan.*`);
        pub.add(`catopt.${t}.round.*`);
        pub.add(readOf(EVENTS_STREAM_NAME, `catopt.${t}.>`));
        consume(EVENTS_STREAM_NAME);
        break;
      case "agent":
        // Its deltas, joins and leaves; it reads its tenant's plans, rounds and governance, and its
        // own deltas. Never a wildcard where the kind goes: an allowed `*` there also admits a
        // published `>` or `*`, so a filter on the tenant's deltas or quarantine notices.
        pub.add(`catopt.${t}.delta.*.${grant.name}`);
        for (const kind of ["plan", "round"]) pub.add(readOf(EVENTS_STREAM_NAME, `catopt.${t}.${kind}.*`));
        pub.add(readOf(EVENTS_STREAM_NAME, `catopt.${t}.gov.>`));
        pub.add(readOf(EVENTS_STREAM_NAME, `catopt.${t}.delta.*.${grant.name}`));
        consume(EVENTS_STREAM_NAME);
        break;
      case "viewer":
        // The tenant's plans, and its governance events, to check who signed them.
        pub.add(readOf(EVENTS_STREAM_NAME, `catopt.${t}.plan.*`));
        pub.add(readOf(EVENTS_STREAM_NAME, `catopt.${t}.gov.>`));
        consume(EVENTS_STREAM_NAME);
        break;
    }
  }
  return {
    pub: { allow: [...pub].sort() },
    sub: { allow: [...sub].sort() },
    ...(resp === undefined ? {} : { resp }),
  };
}
