import { describeFault, type Fault } from "../core/faults.ts";
import type { Clock } from "../core/clock.ts";
import { openLink, type Link } from "../bus/link.ts";

/**
 * Performs a scenario's faults (core/faults.ts) as the coordinator's rounds close: cuts or
 * slows an agent's link, stops an agent and starts a fresh one later, makes an agent leave, stops the coordinator
 * (the run starts a fresh one), kills a server. It only acts; the run recovers on its own, and
 * the timeline it keeps says when each fault struck and ended.
 */
export type FaultActions = {
  /** Stops the agent's process now (it ends as failed); `restart` starts a fresh one. */
  stopAgent(agent: string): void;
  restartAgent(agent: string): void;
  /** Makes the agent leave the problem (it publishes a leave event and stops). */
  leaveAgent(agent: string): void;
  stopCoordinator(): void;
  killServer(): Promise<string>;
};

export type FaultTimeline = {
  readonly fault: Fault;
  /** The rounds after which it struck and ended (null: not reached), and when, in ms since the run started. */
  struckAfter: number | null;
  endedAfter: number | null;
  struckAtMs: number | null;
  endedAtMs: number | null;
  detail: string;
};

export type FaultScript = {
  readonly timeline: readonly FaultTimeline[];
  /** The URL an agent connects to: its link's, if a fault acts on its link. */
  urlFor(agent: string): string | undefined;
  /**
   * Called with every round the coordinator closes, and whether an agent's delta has counted
   * yet: a fault on an agent strikes at its round or, should the agent not have taken part by
   * then (a slow start, which asynchronous rounds do not wait for), once it has. A fault on an
   * agent that is not there yet would test nothing the scenario says.
   */
  onRound(round: number, tookPart: (agent: string) => boolean): void;
  /** Ends every fault still in force (links restored) and closes the links. */
  close(): Promise<void>;
};

export async function startFaultScript(
  faults: readonly Fault[],
  serverUrl: string,
  actions: FaultActions,
  clock: Clock,
  note: (line: string) => void,
): Promise<FaultScript> {
  const started = clock();
  const links = new Map<string, Link>();
  for (const f of faults) if ((f.kind === "cut-link" || f.kind === "delay") && !links.has(f.agent)) links.set(f.agent, await openLink(serverUrl));
  const timeline: FaultTimeline[] = faults.map((fault) => ({ fault, struckAfter: null, endedAfter: null, struckAtMs: null, endedAtMs: null, detail: "" }));

  const strike = (t: FaultTimeline, round: number): void => {
    const f = t.fault;
    [t.struckAfter, t.struckAtMs] = [round, clock() - started];
    note(`fault: ${describeFault(f)}: now`);
    if (f.kind === "cut-link") links.get(f.agent)?.cut();
    if (f.kind === "delay") links.get(f.agent)?.delay(f.ms);
    if (f.kind === "drop-agent") actions.stopAgent(f.agent);
    if (f.kind === "leave") actions.leaveAgent(f.agent);
    if (f.kind === "restart-coordinator") {
      actions.stopCoordinator();
      end(t, round);
    }
    if (f.kind === "kill-server") {
      void actions.killServer().then(
        (name) => {
          t.detail = `killed ${name}`;
          end(t, round);
        },
        (err: Error) => {
          t.detail = `could not kill a server: ${err.message}`;
        },
      );
    }
  };
  const end = (t: FaultTimeline, round: number): void => {
    const f = t.fault;
    [t.endedAfter, t.endedAtMs] = [round, clock() - started];
    if (f.kind === "cut-link") links.get(f.agent)?.restore();
    if (f.kind === "delay") links.get(f.agent)?.delay(0);
    if (f.kind === "drop-agent") actions.restartAgent(f.agent);
    if (f.kind === "cut-link" || f.kind === "delay" || f.kind === "drop-agent") note(`fault: ${describeFault(f)}: over`);
  };

  return {
    timeline,
    urlFor: (agent) => links.get(agent)?.url,
    onRound: (round, tookPart) => {
      for (const t of timeline) {
        if (t.struckAfter === null && round >= t.fault.round && (!("agent" in t.fault) || tookPart(t.fault.agent))) strike(t, round);
        else if (t.struckAfter !== null && t.endedAfter === null && "rounds" in t.fault && round >= t.struckAfter + t.fault.rounds) end(t, round);
      }
    },
    close: async () => {
      for (const link of links.values()) link.restore();
      await Promise.all([...links.values()].map((l) => l.close()));
    },
  };
}
