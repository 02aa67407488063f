import { decodeEnvelope } from "../core/envelope.ts";
import type { AnyEvent } from "../core/event.ts";
import { decodeEvent } from "../families/registry.ts";
import { describeFault, type FaultKind } from "../core/faults.ts";
import type { ClosedBy } from "../core/schemas.ts";
import type { Rejection } from "../replay/reducer.ts";
import type { StreamMessage } from "../core/stream-message.ts";
import { parseSubject } from "../core/subjects.ts";
import type { FaultTimeline } from "./fault-script.ts";

/**
 * How a run lived through its rounds and its faults, read from the stream (what rounds took,
 * why they closed, which deltas came late) beside the fault timeline: the recovery part of
 * `catopt run`'s report. Pure.
 */
export type RoundsSummary = {
  /** Rounds closed because every agent's delta was in, at a quorum, at the deadline. */
  readonly closedBy: Readonly<Record<ClosedBy, number>>;
  /** Deltas a round took that answered an older plan than the last one (bounded staleness). */
  readonly lateTaken: number;
  /** Deltas refused because they came too late to count. */
  readonly staleRefused: number;
};

export type FaultRecovery = {
  readonly kind: FaultKind;
  readonly fault: string;
  /** The round the scenario set it after, and the rounds after which it struck and ended (null: not reached). */
  readonly round: number;
  readonly struckAfter: number | null;
  readonly endedAfter: number | null;
  /** For a fault on an agent: rounds closed without it from the fault on, and the first round that took it again. */
  readonly roundsWithout: number | null;
  readonly backInRound: number | null;
  /** For the coordinator and servers: ms from the fault to the next round closed. */
  readonly nextRoundAfterMs: number | null;
  readonly detail: string;
};

export type Recovery = { readonly rounds: RoundsSummary; readonly faults: readonly FaultRecovery[] };

type RoundRecord = { readonly round: number; readonly agents: ReadonlySet<string>; readonly closedBy: ClosedBy; readonly atMs: number };

/**
 * Reads the run's messages one at a time (a large run's stream is not held whole), then
 * `finish` says how the run recovered. `closedAtMs`: when each round closed, in ms since the
 * run started (the coordinator's onRound).
 */
export function recoveryReader(): {
  add(message: StreamMessage): void;
  finish(rejected: readonly Rejection[], timeline: readonly FaultTimeline[], closedAtMs: ReadonlyMap<number, number>): Recovery;
} {
  // Anything an agent sent on its delta subject, by id: a round takes deltas by their ids (its joins and leaves it never takes).
  const sent = new Map<string, { agent: string; base: number }>();
  const rounds: Omit<RoundRecord, "atMs">[] = [];
  const closedBy: Record<ClosedBy, number> = { all: 0, quorum: 0, deadline: 0 };
  let lateTaken = 0;
  return {
    add(message) {
      const subject = parseSubject(message.subject);
      if (subject?.kind !== "delta" && subject?.kind !== "round") return;
      const event = eventOf(message);
      if (event === undefined) return;
      if (subject.kind === "delta" && subject.agent !== undefined) sent.set(event.id, { agent: subject.agent, base: event.base });
      if (event.schema !== "round/2") return;
      const by = event.body.closedBy;
      const took = event.body.took.map((id) => sent.get(id)).filter((d) => d !== undefined);
      if (event.round >= 1) closedBy[by]++;
      lateTaken += took.filter((d) => d.base < event.round - 1).length;
      rounds.push({ round: event.round, agents: new Set(took.map((d) => d.agent)), closedBy: by });
    },
    finish(rejected, timeline, closedAtMs) {
      const timed = rounds.map((r) => ({ ...r, atMs: closedAtMs.get(r.round) ?? NaN }));
      const staleRefused = rejected.filter((r) => r.reason.includes("comes too late")).length;
      return { rounds: { closedBy, lateTaken, staleRefused }, faults: timeline.map((t) => faultRecovery(t, timed)) };
    },
  };
}

function faultRecovery(t: FaultTimeline, rounds: readonly RoundRecord[]): FaultRecovery {
  const f = t.fault;
  const base = { kind: f.kind, fault: describeFault(f), round: f.round, struckAfter: t.struckAfter, endedAfter: t.endedAfter, detail: t.detail };
  if (t.struckAfter === null) return { ...base, roundsWithout: null, backInRound: null, nextRoundAfterMs: null, detail: "the run ended before it struck" };
  const after = rounds.filter((r) => r.round > (t.struckAfter as number));
  const next = after.find((r) => Number.isFinite(r.atMs));
  const nextRoundAfterMs = next === undefined || t.struckAtMs === null ? null : Math.max(0, Math.round(next.atMs - t.struckAtMs));
  if (f.kind === "leave") return { ...base, roundsWithout: after.filter((r) => !r.agents.has(f.agent)).length, backInRound: null, nextRoundAfterMs };
  if (f.kind === "restart-coordinator" || f.kind === "kill-server") return { ...base, roundsWithout: null, backInRound: null, nextRoundAfterMs };
  const back = after.find((r) => r.agents.has(f.agent) && r.round > (t.endedAfter ?? Infinity));
  const without = after.filter((r) => !r.agents.has(f.agent) && (back === undefined || r.round < back.round)).length;
  return { ...base, roundsWithout: without, backInRound: back?.round ?? null, nextRoundAfterMs: null };
}

function eventOf(message: StreamMessage): AnyEvent | undefined {
  try {
    return decodeEvent(decodeEnvelope(message.data).event);
  } catch {
    return undefined;
  }
}

/** The report's lines on recovery. */
export function recoveryLines(r: Recovery): string[] {
  const { closedBy, lateTaken, staleRefused } = r.rounds;
  const lines = [
    `  rounds closed        ${closedBy.all} with every agent, ${closedBy.quorum} at quorum, ${closedBy.deadline} at the deadline; ${lateTaken} late deltas counted, ${staleRefused} too stale`,
  ];
  for (const f of r.faults) lines.push(`  fault                ${f.fault}: ${struckLate(f)}${howItRecovered(f)}`);
  return lines;
}

/** A fault on an agent that had not taken part by its round struck once it had. */
function struckLate(f: FaultRecovery): string {
  return f.struckAfter !== null && f.struckAfter > f.round ? `struck after round ${f.struckAfter}, once the agent had taken part; ` : "";
}

function howItRecovered(f: FaultRecovery): string {
  if (f.struckAfter === null) return f.detail;
  if (f.kind === "leave") return `${f.roundsWithout} rounds closed without it, the first ${f.nextRoundAfterMs ?? "?"} ms after it left`;
  if (f.roundsWithout !== null)
    return `${f.roundsWithout} rounds closed without it; ${f.backInRound === null ? "never taken again" : `its deltas count again from round ${f.backInRound}`}`;
  return `${f.detail ? `${f.detail}; ` : ""}${f.nextRoundAfterMs === null ? "no round closed after it" : `next round closed ${f.nextRoundAfterMs} ms later`}`;
}
