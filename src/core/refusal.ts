/**
 * A message refused for a reason (unsigned, unknown signer, out of order, ...): input that is
 * recorded and counted, never a crash. Any other exception from a reducer is a bug.
 */
export class Refusal extends Error {
  override readonly name = "Refusal";
}

export const refuse = (reason: string): never => {
  throw new Refusal(reason);
};
