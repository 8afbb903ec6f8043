/** English text of the request-log drawer (Cache > Request log). `ko/log-drawer.ts` has the same keys. */
const logDrawer = {
  title: 'Request {id}',
  open: 'Open',
  tenant: 'Tenant',
  namespace: 'Namespace',
  keyHash: 'Cache key hash',
  reason: 'Why it missed',
  noReason: 'It was a hit',
  parameters: 'Parameters',
  noParameters: 'None that change the answer',
  request: 'Request (as keyed)',
  noRequest: 'Imported lines and old rows keep no request body.',
  response: 'Response (the entry that answered or that the miss stored)',
  noEntry: 'No entry: nothing was stored for this request, or the entry has since been deleted.',
  openEntry: 'Open entry {id}',
  loadFailed: 'Could not load the request: {message}',
}

export default logDrawer
