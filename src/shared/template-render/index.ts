/**
 * The template renderer shared by the backend, the console's preview and the exported edge worker. Platform-free:
 * imports nothing but its own modules.
 */
export * from './mustache'
export * from './slots'
export * from './personalise'
export * from './pattern'
