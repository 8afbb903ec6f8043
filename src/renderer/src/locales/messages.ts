/**
 * Backend messages in the console. The backend sends English text plus, where it can, a message key and parameters
 * (src/shared/messages.ts); the console shows the key's translation in the current language and the English text
 * for keys it does not know (rows from an older or newer Larder, free text, engine errors).
 */
import type { MessageParams, MessageRef } from '../../../shared/messages'
import { ApiError } from '../../../shared/errors'
import { i18n } from '.'

/** The text to show for a backend message: its translation, or the English the backend wrote. */
export function messageText(english: string, ref: MessageRef | null | undefined): string {
  if (!ref) return english
  const path = `msg.${ref.key}`
  const { t, te } = i18n.global
  return te(path) ? t(path, ref.params as MessageParams) : english
}

/** Template problems, API errors: anything with English `message` and an optional `messageKey` + `params`. */
export function keyedText(value: { message: string; messageKey?: string; params?: MessageParams }): string {
  return messageText(value.message, value.messageKey ? { key: value.messageKey, params: value.params ?? {} } : null)
}

/** An API error whose message is in the console's language (its code, path and key are kept). */
export function localizedError(error: ApiError): ApiError {
  if (!error.messageKey) return error
  return new ApiError({ ...error.toJSON(), message: keyedText(error) })
}
