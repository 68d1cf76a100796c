/**
 * Typed errors. Each carries the process exit code it maps to, so that only
 * `main.ts` decides how the process ends and every message reaches the user as
 * one line naming the input and the reason.
 *
 * @module
 */

/** Exit codes shared by every command (see README "Exit codes"). */
export const ExitCode = {
  Ok: 0,
  /** The command ran and found a failure it was asked to report (e.g. `--fail-under`). */
  Finding: 1,
  /** Usage error or invalid input: bad flag, unreadable or non-ELF core, invalid config. */
  Usage: 2,
  /** A dependency is unavailable: Kubernetes API, storage. */
  Unavailable: 3,
  /** A defect: something failed that the agent did not expect (please report it). */
  Internal: 70,
  /** Stopped by SIGHUP (128 + 1). */
  HungUp: 129,
  /** Stopped by SIGINT, Ctrl-C (128 + 2), or a prune cancelled that way. */
  Interrupted: 130,
  /** Stopped by SIGTERM (128 + 15). */
  Terminated: 143,
} as const;

/** A value of {@linkcode ExitCode}. */
export type ExitCodeValue = typeof ExitCode[keyof typeof ExitCode];

/**
 * Base of every error the agent reports on purpose.
 *
 * @example Usage
 * ```ts
 * throw new InputError(`Cannot read core "core.1": not an ELF file`);
 * ```
 */
export class AgentError extends Error {
  /** The process exit code this error maps to. */
  readonly exitCode: ExitCodeValue;

  /** Creates an error with a one-line message, an exit code and an optional cause. */
  constructor(message: string, exitCode: ExitCodeValue, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/** A bad flag or argument (exit code 2). */
export class UsageError extends AgentError {
  /** Creates a usage error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, ExitCode.Usage, options);
  }
}

/** Input that cannot be used: an unreadable or malformed file (exit code 2). */
export class InputError extends AgentError {
  /** Creates an input error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, ExitCode.Usage, options);
  }
}

/** An invalid configuration file, environment variable or flag value (exit code 2). */
export class ConfigError extends AgentError {
  /** Creates a configuration error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, ExitCode.Usage, options);
  }
}

/** A dependency that is not reachable or not installed (exit code 3). */
export class UnavailableError extends AgentError {
  /** Whether the dependency did not answer in time (rather than refused or failed). */
  readonly timedOut: boolean;

  /** Creates an unavailable-dependency error. */
  constructor(message: string, options?: ErrorOptions & { timedOut?: boolean }) {
    super(message, ExitCode.Unavailable, options);
    this.timedOut = options?.timedOut ?? false;
  }
}

/**
 * The HTTP status an error answers with: 400 for bad input (a usage, input or configuration
 * error), 504 for a dependency that timed out, 503 for one that is unavailable, 500 for
 * anything else (a defect).
 *
 * @example Usage
 * ```ts
 * httpStatusOf(new InputError("bad id")); // 400
 * httpStatusOf(new UnavailableError("shim", { timedOut: true })); // 504
 * ```
 */
export function httpStatusOf(error: unknown): 400 | 500 | 503 | 504 {
  if (error instanceof UnavailableError) return error.timedOut ? 504 : 503;
  if (error instanceof AgentError && error.exitCode === ExitCode.Usage) return 400;
  return 500;
}

/** The command ran and found a failure it was asked to report (exit code 1). */
export class FindingError extends AgentError {
  /** Creates a finding error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, ExitCode.Finding, options);
  }
}

/**
 * Renders an error and its cause chain, one cause per line, for `--log-level debug`.
 *
 * @example Usage
 * ```ts
 * causeChain(new InputError("a", { cause: new Error("b") })); // ["a", "b"]
 * ```
 */
export function causeChain(error: unknown): string[] {
  const lines: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 16; depth++) {
    lines.push(current instanceof Error ? current.message : String(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return lines;
}

/**
 * The message of anything thrown: an `Error`'s message, else the value as text.
 *
 * @example Usage
 * ```ts
 * errorMessage(new Error("disk full")); // "disk full"
 * errorMessage("oops"); // "oops"
 * ```
 */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
