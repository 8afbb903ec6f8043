/** Problems with the workspace folder or its database, each with a message that says what to do. */
export type WorkspaceErrorCode =
  | 'workspace_unwritable'
  | 'database_corrupt'
  | 'database_readonly'
  | 'database_locked'
  | 'database_newer'
  | 'migration_edited'
  | 'migration_failed'
  | 'migrations_missing'
  | 'migrations_invalid'
  | 'native_module'

export class WorkspaceError extends Error {
  constructor(
    readonly code: WorkspaceErrorCode,
    message: string,
  ) {
    super(message)
    this.name = 'WorkspaceError'
  }
}
