/** English text of the demo workspace offer. `ko/demo.ts` has the same keys. */
const demo = {
  title: 'New here? Load the demo workspace',
  description:
    'Builds a workspace to explore, offline, in a few minutes: trains a small model on a support corpus that ships with Larder (about a minute) and adds a Q8_0 copy, imports a request log of thousands of requests, pre-warms and approves cache entries, sends traffic through the gateway, generates and publishes a template family, wires a starter pipeline and exports a CDN bundle. Every page then shows real data.',
  load: 'Load demo workspace',
  retry: 'Try again (continues where it stopped)',
}

export default demo
