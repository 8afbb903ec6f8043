/**
 * The gateway's base URL as this console sees it: `larder serve` serves both, so in a browser it is this origin.
 * The desktop window has no HTTP origin (file://); there the gateway runs only under `larder serve`.
 */
export function gatewayBaseUrl(): string {
  return location.protocol.startsWith('http') ? `${location.origin}/v1` : 'http://127.0.0.1:<port>/v1'
}

export function servedOverHttp(): boolean {
  return location.protocol.startsWith('http')
}
