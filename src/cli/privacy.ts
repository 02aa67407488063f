import { catoptError } from "../core/errors.ts";
import { didYouMean } from "../core/suggest.ts";
import { positiveIntegerOption, positiveNumberOption, type Command, type Io, type ParsedArgs } from "../core/command.ts";
import { epsilonFor, epsilonFromRhoStandard, epsilonFromRhoTight, rhoBudgetFor, rhoPerRound, roundsWithin } from "../secure/zcdp.ts";

/**
 * `catopt privacy account`: what a noise level costs in privacy, as a problem with noise spends it.
 * Agents that clip their values to L2 norm `clip` (so that one agent's values replaced by any
 * others move the sum by at most 2 clip) and whose summed noise is a discrete Gaussian of variance
 * `sigma2` a round spend rho = (2 clip)^2 / (2 sigma2) a round (zCDP); rounds add up, and the total
 * converts to (epsilon, delta)-DP (src/secure/zcdp.ts says from which papers, and how checked).
 * Given a budget and rounds instead of a noise level, it prints the least noise that fits.
 * A run's own accounting (secure/distributed-noise.ts) adds the grid's rounding to the clip and
 * KLS 2021's term for noise split among agents: both are negligible at many grid units.
 */
export const privacyCommand: Command = {
  name: "privacy",
  synopsis: "account --clip <c> (--sigma2 <v> (--rounds <n> | --epsilon <e>) | --epsilon <e> --rounds <n>) [--delta <d>]",
  summary: "the privacy a noise level spends: epsilon for a number of rounds, the rounds a budget allows, or the noise a budget needs",
  description:
    "Zero-concentrated DP accounting of discrete Gaussian noise on clipped values: one agent's replaced by any others moves a round's sum by up to 2 clip, so rho = (2 clip)^2 / (2 sigma2) a round, added up over the rounds, converted to (epsilon, delta)-DP (the smaller of Bun & Steinke 2016 and Canonne, Kamath & Steinke 2020).",
  options: {
    sigma2: { type: "string", value: "<v>", description: "the variance of the noise in each round's sum, in the contribution's units squared" },
    clip: { type: "string", value: "<c>", description: "the L2 norm each agent's values are clipped to" },
    rounds: { type: "string", value: "<n>", description: "how many rounds: prints the epsilon they spend (with --epsilon: the noise they need)" },
    epsilon: { type: "string", value: "<e>", description: "a budget: prints how many rounds fit in it (with --rounds: the noise they need)" },
    delta: { type: "string", value: "<d>", description: "delta of (epsilon, delta)-DP (default 1e-6)" },
    json: { type: "boolean", description: "print one JSON object" },
  },
  details: [
    "Examples:",
    "  catopt privacy account --sigma2 100 --clip 1 --rounds 50",
    "  catopt privacy account --sigma2 100 --clip 1 --epsilon 2 --delta 1e-5",
    "  catopt privacy account --clip 1000 --epsilon 8 --rounds 40",
  ],
  run: async (args, io) => {
    const action = args.positionals[0];
    if (action !== "account") throw catoptError("USAGE", `privacy expects account${action ? `, not "${action}"${didYouMean(action, ["account"])}` : ""}`);
    const clip = positive(args, "clip");
    const delta = args.values.delta === undefined ? 1e-6 : positive(args, "delta");
    if (delta >= 1) throw catoptError("USAGE", `--delta must be below 1, not ${delta}`);
    if (args.values.sigma2 === undefined && args.values.rounds !== undefined && args.values.epsilon !== undefined) return noiseFor(args, io, clip, delta);
    const sigma2 = positive(args, "sigma2");
    const perRound = rhoPerRound(2 * clip, sigma2);
    if (!Number.isFinite(perRound)) throw catoptError("USAGE", `--clip ${clip} on noise of variance ${sigma2} spends more privacy than a number holds`);
    if ((args.values.rounds === undefined) === (args.values.epsilon === undefined))
      throw catoptError("USAGE", "privacy account needs --rounds or --epsilon (one of them)");
    if (args.values.rounds !== undefined) {
      const rounds = positiveIntegerOption(args, "rounds") as number;
      if (rounds > MAX_ROUNDS) throw catoptError("USAGE", `--rounds expects at most ${MAX_ROUNDS}, not ${rounds}`);
      if (!Number.isFinite(rounds * perRound)) throw catoptError("USAGE", `${rounds} rounds spend more privacy than a number holds`);
      const rho = rounds * perRound;
      const result = { sigma2, clip, delta, rounds, rho_per_round: perRound, rho, epsilon: epsilonFor(rho, delta) };
      if (args.values.json === true) io.out(`${JSON.stringify(result)}\n`);
      else
        io.out(
          `${rounds} rounds of noise variance ${sigma2} on contributions clipped to ${clip}: rho ${perRound.toPrecision(4)} a round, ${rho.toPrecision(4)} in all\n` +
            `  epsilon ${result.epsilon.toPrecision(4)} at delta ${delta} (Bun-Steinke ${epsilonFromRhoStandard(rho, delta).toPrecision(4)}, Canonne-Kamath-Steinke ${epsilonFromRhoTight(rho, delta).toPrecision(4)})\n`,
        );
      return 0;
    }
    const epsilon = positive(args, "epsilon");
    const rounds = roundsWithin({ epsilon, delta }, 2 * clip, sigma2);
    if (args.values.json === true) io.out(`${JSON.stringify({ sigma2, clip, delta, epsilon, rho_per_round: perRound, rounds })}\n`);
    else io.out(`a budget of epsilon ${epsilon} at delta ${delta} allows ${rounds} rounds of noise variance ${sigma2} on contributions clipped to ${clip}\n`);
    return 0;
  },
};

/** The least noise at which `rounds` rounds spend the budget --epsilon at `delta`. */
function noiseFor(args: ParsedArgs, io: Io, clip: number, delta: number): number {
  const epsilon = positive(args, "epsilon");
  const rounds = positiveIntegerOption(args, "rounds") as number;
  if (rounds > MAX_ROUNDS) throw catoptError("USAGE", `--rounds expects at most ${MAX_ROUNDS}, not ${rounds}`);
  const perRound = rhoBudgetFor(epsilon, delta) / rounds;
  const sigma2 = (2 * clip) ** 2 / (2 * perRound);
  if (!(Number.isFinite(sigma2) && sigma2 > 0)) throw catoptError("USAGE", `--clip ${clip} over ${rounds} rounds needs more noise than a number holds`);
  if (args.values.json === true) io.out(`${JSON.stringify({ clip, delta, epsilon, rounds, rho_per_round: perRound, sigma2 })}\n`);
  else
    io.out(
      `${rounds} rounds within epsilon ${epsilon} at delta ${delta}, on values clipped to ${clip}: noise of variance ${sigma2.toPrecision(6)} (standard deviation ${Math.sqrt(sigma2).toPrecision(4)}) in each round's sum\n`,
    );
  return 0;
}

/** More rounds than any run takes (a run stops at maxRounds, at most this many). */
const MAX_ROUNDS = 1e12;

function positive(args: ParsedArgs, name: string): number {
  return (
    positiveNumberOption(args, name, 1e15) ??
    (() => {
      throw catoptError("USAGE", `privacy account needs --${name}`);
    })()
  );
}
