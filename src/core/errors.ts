/**
 * User-facing failures carry a stable `code` so that callers (the CLI, tests, other
 * services) can branch on it, and a `cause` for the underlying error. The CLI prints
 * `message` as one line and exits non-zero; a stack trace is only for bugs.
 */
export type ErrorCode =
  | "SCENARIO_NOT_FOUND"
  | "SCENARIO_INVALID"
  | "PROBLEM_INFEASIBLE"
  | "NATS_UNREACHABLE"
  | "NATS_SERVER_MISSING"
  | "NATS_SERVER_FAILED"
  | "STREAM_CONFIG_INVALID"
  | "STREAM_CONFLICT"
  | "RECORDING_INVALID"
  | "EVENT_INVALID"
  | "RUN_FAILED"
  | "PUBLISH_SQUATTED"
  | "LEDGER_INVALID"
  | "KEY_MISSING"
  | "KEY_INVALID"
  | "KEY_EXISTS"
  | "DID_INVALID"
  | "ADAPTER_INPUT"
  | "INPUT_INVALID"
  | "PROBLEM_FINISHED"
  | "JWT_INVALID"
  | "CREDS_INVALID"
  | "CREDS_REFUSED"
  | "NOT_PERMITTED"
  | "USAGE";

export class CatoptError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CatoptError";
    this.code = code;
  }
}

export function catoptError(code: ErrorCode, message: string, cause?: unknown): CatoptError {
  return new CatoptError(code, message, cause === undefined ? undefined : { cause });
}

export function isCatoptError(err: unknown, code?: ErrorCode): err is CatoptError {
  return err instanceof CatoptError && (code === undefined || err.code === code);
}
