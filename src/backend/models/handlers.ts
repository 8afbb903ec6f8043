/** Handlers for the Models area of the contract (`models.*`, `providers.*`, `gguf.*`). */
import type { modelMethods } from '../../shared/contract'
import { ApiError } from '../../shared/errors'
import type { AreaHandlers } from '../api/dispatch'
import type { Backend } from '../backend'
import { ModelsRepository, publicProvider } from './repository'
import { QUANTIZE_JOB, SWEEP_JOB } from './quantization'
import { COMPARE_JOB, PULL_JOB } from './service'

export function modelHandlers(backend: Backend): AreaHandlers<typeof modelMethods> {
  const { models, quantization, runner, workspace } = backend
  const repo = (): ModelsRepository => new ModelsRepository(workspace.db)
  return {
    'models.list': () => models.list(),
    'models.get': ({ id }) => models.get(id),
    'models.register': ({ path, name, base }) => models.register(path, { name, base }),
    'models.scan': ({ dir }) => models.scan(dir),
    'models.unregister': ({ id, deleteFile }) => models.unregister(id, deleteFile),
    'models.pull': ({ uri, name }) => ({ job: runner.enqueue(PULL_JOB, { uri, name }) }),
    'models.load': (input) => models.load(input),
    'models.unload': ({ id }) => models.unload(id),
    'models.system': ({ probeGpu }) => models.system(probeGpu),
    'models.generate': (input) => models.generate(input),
    'models.stop': ({ streamId }) => ({ stopped: models.stop(streamId) }),
    'providers.test': ({ id }) => models.testProvider(id),
    'providers.list': () => ({ items: repo().listProviders().map(publicProvider) }),
    'providers.save': (input) => {
      const clash = repo()
        .listProviders()
        .find((p) => p.name === input.name && p.id !== input.id)
      if (clash)
        throw new ApiError({ code: 'conflict', message: `A provider named "${input.name}" exists.`, path: ['name'] })
      const saved = repo().saveProvider(input)
      if (!saved)
        throw new ApiError({ code: 'not_found', message: `Provider ${input.id} does not exist.`, path: ['id'] })
      return publicProvider(saved)
    },
    'providers.remove': ({ id }) => ({ removed: repo().removeProvider(id) }),
    'gguf.quantize': async (input) => {
      await quantization.check(input.id, [input.type], input)
      return { job: runner.enqueue(QUANTIZE_JOB, input) }
    },
    'gguf.plan': (input) => quantization.plan(input),
    'gguf.sweep': async (input) => {
      await quantization.check(input.id, input.types, input)
      return { job: runner.enqueue(SWEEP_JOB, input) }
    },
    'gguf.compare': (input) => {
      models.fullModel(input.originalId, ['originalId'])
      models.fullModel(input.quantizedId, ['quantizedId'])
      return { job: runner.enqueue(COMPARE_JOB, input) }
    },
  }
}
