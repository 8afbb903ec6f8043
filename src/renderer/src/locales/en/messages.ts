/** Backend messages: the English templates are the backend's own (src/shared/messages.ts), so both agree. */
import { MESSAGES } from '../../../../shared/messages'
import { nestMessages } from '../nest'

export default nestMessages(MESSAGES)
