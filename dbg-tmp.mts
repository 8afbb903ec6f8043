import { findLlamaLibraries } from './src/backend/distill/native/bins.ts'
import { LlamaNative } from './src/backend/distill/native/llama.ts'
import { formatPlain } from './src/backend/distill/data.ts'
const n = new LlamaNative(findLlamaLibraries()[0]!)
n.checkLayout(); n.init()
const model = n.loadModel('/tmp/proto/ck2.gguf', 0)
const vocab = n.call('llama_model_get_vocab', model)
const msgs = [{ role: 'user', content: 'Invoice 12 from Acme.' }, { role: 'assistant', content: '{"a":1}' }] as const
const full = n.tokenize(vocab, formatPlain(msgs as any, false), true)
const prompt = n.tokenize(vocab, formatPlain(msgs.slice(0, 1) as any, true), true)
console.log(JSON.stringify(formatPlain(msgs as any, false)), Array.from(full))
console.log(JSON.stringify(formatPlain(msgs.slice(0, 1) as any, true)), Array.from(prompt))
console.log(n.detokenize(vocab, full))
