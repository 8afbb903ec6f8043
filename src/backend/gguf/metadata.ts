import type { GgufArray, GgufMetadata, GgufValue } from './types.js'

/**
 * Typed accessors for metadata. They return undefined when a key is missing or has an unexpected
 * type, so callers decide whether that is an error (validate.ts) or just unknown (summary).
 */

const integerTypes = new Set(['uint8', 'int8', 'uint16', 'int16', 'uint32', 'int32', 'uint64', 'int64'])

export function isIntegerValue(value: GgufValue | undefined): boolean {
  return value !== undefined && integerTypes.has(value.type)
}

/** Any numeric scalar as a JS number; 64-bit values outside the safe integer range give undefined. */
export function metadataNumber(metadata: GgufMetadata, key: string): number | undefined {
  return valueAsNumber(metadata.get(key))
}

export function valueAsNumber(value: GgufValue | undefined): number | undefined {
  if (!value) return undefined
  switch (value.type) {
    case 'uint8':
    case 'int8':
    case 'uint16':
    case 'int16':
    case 'uint32':
    case 'int32':
    case 'float32':
    case 'float64':
      return value.value
    case 'uint64':
    case 'int64': {
      const asNumber = Number(value.value)
      return Number.isSafeInteger(asNumber) ? asNumber : undefined
    }
    default:
      return undefined
  }
}

export function metadataString(metadata: GgufMetadata, key: string): string | undefined {
  const value = metadata.get(key)
  return value?.type === 'string' ? value.value : undefined
}

export function metadataBoolean(metadata: GgufMetadata, key: string): boolean | undefined {
  const value = metadata.get(key)
  return value?.type === 'bool' ? value.value : undefined
}

export function metadataArray(metadata: GgufMetadata, key: string): GgufArray | undefined {
  const value = metadata.get(key)
  return value?.type === 'array' ? value.value : undefined
}

export function metadataStringArray(metadata: GgufMetadata, key: string): string[] | undefined {
  const array = metadataArray(metadata, key)
  return array?.elementType === 'string' ? array.values : undefined
}

export function arrayLength(array: GgufArray): number {
  return array.values.length
}

/** Numeric array elements as plain numbers (used for per-layer hyperparameters such as head_count). */
export function arrayAsNumbers(array: GgufArray): number[] | undefined {
  switch (array.elementType) {
    case 'uint8':
    case 'int8':
    case 'uint16':
    case 'int16':
    case 'uint32':
    case 'int32':
    case 'float32':
    case 'float64':
      return Array.from(array.values)
    case 'uint64':
    case 'int64':
      return Array.from(array.values, (value) => Number(value))
    default:
      return undefined
  }
}

/** Human-readable rendering of a value for logs and the UI; long arrays are abbreviated. */
export function describeValue(value: GgufValue, maxArrayItems = 8): string {
  if (value.type !== 'array') {
    if (value.type === 'string') return JSON.stringify(value.value)
    return String(value.value)
  }
  const array = value.value
  const items: string[] = []
  const shown = Math.min(array.values.length, maxArrayItems)
  for (let index = 0; index < shown; index++) {
    const item = array.values[index]
    items.push(typeof item === 'string' ? JSON.stringify(item) : typeof item === 'object' ? '[…]' : String(item))
  }
  const more = array.values.length > shown ? `, … (${array.values.length} items)` : ''
  return `${array.elementType}[${items.join(', ')}${more}]`
}
