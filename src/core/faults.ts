import * as v from "./validate.ts";

/**
 * Faults a scenario scripts, each at a round (it strikes once the coordinator has closed that
 * round): what fleets with unreliable links and machines live through. `catopt run` performs
 * them against the real processes and connections and reports how the run recovered
 * (run/recovery.ts).
 */
export type Fault =
  /** The agent's network link goes dead for `rounds` rounds: its connection drops and cannot reconnect. */
  | { readonly kind: "cut-link"; readonly round: number; readonly agent: string; readonly rounds: number }
  /** Everything the agent sends reaches the server `ms` later, for `rounds` rounds. */
  | { readonly kind: "delay"; readonly round: number; readonly agent: string; readonly ms: number; readonly rounds: number }
  /** The agent's process stops; a fresh one starts `rounds` rounds later and resumes from the stream. */
  | { readonly kind: "drop-agent"; readonly round: number; readonly agent: string; readonly rounds: number }
  /** The agent leaves the problem for good (a leave event, then it stops): the rest go on to their own optimum. */
  | { readonly kind: "leave"; readonly round: number; readonly agent: string }
  /** The coordinator's process stops; a fresh one starts at once and resumes from the stream. */
  | { readonly kind: "restart-coordinator"; readonly round: number }
  /** The server that leads the event stream is killed (the run then uses a 3-server cluster). */
  | { readonly kind: "kill-server"; readonly round: number };

export type FaultKind = Fault["kind"];
export const FAULT_KINDS: readonly FaultKind[] = ["cut-link", "delay", "drop-agent", "leave", "restart-coordinator", "kill-server"];

/** Faults that leave an agent out of rounds, which only asynchronous rounds can close without it. */
export const needsAsyncRounds = (f: Fault): boolean => f.kind === "cut-link" || f.kind === "drop-agent";

export function parseFaults(value: unknown, at: string, agents: readonly string[]): Fault[] {
  if (value === undefined) return [];
  return v.array(value, at).map((item, i): Fault => {
    const path = `${at}[${i}]`;
    const f = v.record(item, path);
    const kind = v.oneOf(f.kind, FAULT_KINDS, `${path}.kind`);
    const round = v.integer(f.round, `${path}.round`, 1);
    if (kind === "restart-coordinator" || kind === "kill-server") return { kind, round };
    const agent = v.oneOf(f.agent, agents, `${path}.agent`);
    if (kind === "leave") return { kind, round, agent };
    const rounds = v.integer(f.rounds, `${path}.rounds`, 1);
    if (kind === "delay") return { kind, round, agent, rounds, ms: delayMs(f.ms, `${path}.ms`) };
    return { kind, round, agent, rounds };
  });
}

/** The longest delay a timer can hold (Node's timers: 2^31 - 1 ms, about 24.8 days); a longer one would fire at once. */
export const MAX_DELAY_MS = 2 ** 31 - 1;

function delayMs(value: unknown, at: string): number {
  const ms = v.positive(value, at);
  if (ms > MAX_DELAY_MS) throw new v.ValidationError(at, `${ms} ms is more than a timer can hold (${MAX_DELAY_MS} ms, about 24.8 days)`);
  return ms;
}

/** One line per fault, for logs and the report. */
export function describeFault(f: Fault): string {
  switch (f.kind) {
    case "cut-link":
      return `cut ${f.agent}'s link for ${f.rounds} rounds after round ${f.round}`;
    case "delay":
      return `delay ${f.agent}'s messages by ${f.ms} ms for ${f.rounds} rounds after round ${f.round}`;
    case "drop-agent":
      return `stop ${f.agent} after round ${f.round}, start a fresh one ${f.rounds} rounds later`;
    case "leave":
      return `${f.agent} leaves the problem after round ${f.round}`;
    case "restart-coordinator":
      return `restart the coordinator after round ${f.round}`;
    case "kill-server":
      return `kill the event stream's leader after round ${f.round}`;
  }
}
