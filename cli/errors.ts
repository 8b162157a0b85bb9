// Errors the command line reports as a message and an exit code, never as a stack trace.

/** Bad usage or bad input (a flag, a CSV, a model file): exit code 2. */
export class UserError extends Error {
  /** Process exit code. */
  readonly exitCode: number;
  /** An optional next step, printed on its own line. */
  readonly hint: string | undefined;

  constructor(message: string, options: { exitCode?: number; hint?: string } = {}) {
    super(message);
    this.name = 'UserError';
    this.exitCode = options.exitCode ?? 2;
    this.hint = options.hint;
  }
}

/** Training ran but failed (diverged): exit code 1. */
export class TrainingFailure extends UserError {
  constructor(message: string, hint?: string) {
    super(message, { exitCode: 1, ...(hint ? { hint } : {}) });
    this.name = 'TrainingFailure';
  }
}
