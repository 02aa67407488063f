import { spawn } from "node:child_process";
import path from "node:path";
import { PROJECT_ROOT } from "../../src/bus/embedded-server.ts";

export type CliResult = { code: number | null; stdout: string; stderr: string };

/** The fields of a run's --json outcome the tests read. */
export type Outcome = {
  converged: boolean;
  rounds: number;
  gap: number | null;
  max_violation: number;
  state_hash: string;
  events: number;
  rejected: number;
  scenario: string | null;
};

/** Runs the real `catopt` binary as a user would, with a time limit so a hang fails the test. */
export function runCli(args: readonly string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  return startCli(args, options).done;
}

/** Starts `catopt` in the background: for services (the governance consumer) stopped with a signal. */
export function startCli(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): { done: Promise<CliResult>; signal(name: NodeJS.Signals): void; stdout(): string; stderr(): string; pid(): number } {
  let child!: ReturnType<typeof spawn>;
  let stdout = "";
  let stderr = "";
  const done = new Promise<CliResult>((resolve) => {
    child = spawn(process.execPath, [path.join(PROJECT_ROOT, "bin", "catopt.mjs"), ...args], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, CATOPT_NATS_URL: "", ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr?.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return { done, signal: (name) => child.kill(name), stdout: () => stdout, stderr: () => stderr, pid: () => child.pid ?? 0 };
}

/** The last line of stdout as JSON (the --json contract). */
export function lastJson<T = Record<string, unknown>>(result: CliResult): T {
  const lines = result.stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]) as T;
}

/** A user error is one line on stderr and no stack trace. */
export function isOneLineError(stderr: string): boolean {
  const lines = stderr
    .trim()
    .split("\n")
    .filter((l) => l.startsWith("catopt"));
  return lines.length === 1 && !/\n\s+at /.test(stderr);
}
