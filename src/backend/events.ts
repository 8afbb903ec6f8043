/** In-process fan-out of contract events to every connected transport (SSE streams, MessagePorts, the CLI). */
import type { EventName, EventPayload } from '../shared/contract'

export type EventListener = <E extends EventName>(name: E, payload: EventPayload<E>) => void

export class EventBus {
  private readonly listeners = new Set<EventListener>()

  emit<E extends EventName>(name: E, payload: EventPayload<E>): void {
    for (const listener of this.listeners) {
      try {
        listener(name, payload)
      } catch (error) {
        // One broken subscriber (e.g. a closed stream) must not stop the others from hearing the event.
        console.error(`event listener for ${name} failed:`, error)
      }
    }
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
}
