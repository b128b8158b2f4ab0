/** Exit codes scripts can rely on. */
export const EXIT = {
  OK: 0,
  /** Runtime failure: training stopped (non-finite), a write failed, bad data. */
  FAILURE: 1,
  /** Bad command line or input (unknown model, missing folder, bad numbers, incompatible resume). */
  USAGE: 2,
  /** The model / weights / feature is not available here (package not built, weights not cached offline). */
  UNAVAILABLE: 3,
  /** Interrupted (SIGINT). */
  INTERRUPTED: 130,
} as const;

/** An error with the exit code the CLI should end with; its message is printed as `ganzoo: error: <message>`. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT.FAILURE) {
    super(message);
  }
}
