import { setTimeout as sleep } from "node:timers/promises";

/** How long a request keeps trying through a server failure: a JetStream cluster elects new leaders in seconds. */
export const RETRY_PATIENCE_MS = 30_000;

// Errors no retry can fix: the request itself is refused, or the connection is gone for good;
// of the server's API errors, only 503 (no leader yet) passes with time.
const PERMANENT = new Set([
  "InvalidArgumentError",
  "InvalidSubjectError",
  "ClosedConnectionError",
  "DrainingConnectionError",
  "PermissionViolationError",
  "AuthorizationError",
  "StreamNotFoundError",
  "ConsumerNotFoundError",
]);
export const isPermanent = (err: Error & { status?: number }): boolean =>
  PERMANENT.has(err.name) || isRefusedByPermissions(err) || (err.name === "JetStreamApiError" && err.status !== 503);

/** The server refused a publish or a subscription by the user's permissions (nats.js wraps a request's refusal in a RequestError). */
export const isRefusedByPermissions = (err: Error): boolean => err.message.startsWith("Permissions Violation");

/**
 * Runs a NATS request again, with backoff, while a server or a stream leader is being replaced
 * (no responders, timeouts, "jetstream is not enabled" from a server still joining). Only for
 * requests that are safe to repeat: reads, and publishes with a Nats-Msg-Id.
 */
export async function retrying<T>(attempt: () => Promise<T>, patienceMs = RETRY_PATIENCE_MS): Promise<T> {
  const deadline = Date.now() + patienceMs;
  for (let wait = 50; ; wait = Math.min(wait * 2, 2000)) {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof Error) || isPermanent(err) || Date.now() + wait > deadline) throw err;
      await sleep(wait);
    }
  }
}
