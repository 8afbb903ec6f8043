import { getLlama, LlamaCompletion } from 'node-llama-cpp'
const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' } as any)
const model = await llama.loadModel({ modelPath: process.argv[2] })
const ctx = await model.createContext({ contextSize: 256, threads: 1 })
const completion = new LlamaCompletion({ contextSequence: ctx.getSequence() })
for (const p of ['User: Invoice 3320 from Globex, USD, paid.\nAssistant: ', 'User: Hooli sent invoice 4868 in EUR; it is open.\nAssistant: ']) {
  const text = await completion.generateCompletion(p, { maxTokens: 80, temperature: 0 })
  console.log(JSON.stringify(text))
}
