/** Exit codes of the `larder` command; scripts can rely on them (documented in the README). */
export const EXIT = {
  ok: 0,
  /** The work ran and failed (e.g. a job failed). */
  failed: 1,
  /** Wrong arguments or options. */
  usage: 2,
  /** The workspace or its database cannot be used (unwritable, corrupt, newer schema, edited migration). */
  workspace: 3,
  notFound: 4,
  /** The request conflicts with the current state (e.g. cancelling a finished job, port in use). */
  conflict: 5,
  /** Stopped by Ctrl-C or a cancelled job. */
  interrupted: 130,
} as const
