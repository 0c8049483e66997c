// A minimal event emitter: the client library's only way of telling the app that something changed.

export class Emitter {
  #handlers = new Map();

  /** Register `handler` for `event`; returns a function that unregisters it. */
  on(event, handler) {
    if (!this.#handlers.has(event)) this.#handlers.set(event, new Set());
    this.#handlers.get(event).add(handler);
    return () => this.off(event, handler);
  }

  off(event, handler) {
    this.#handlers.get(event)?.delete(handler);
  }

  /** Call every handler of `event`; a handler that throws does not stop the others. */
  emit(event, ...args) {
    for (const handler of [...(this.#handlers.get(event) ?? [])]) {
      try {
        handler(...args);
      } catch (error) {
        console.error(`[tether] handler of ${event} failed`, error);
      }
    }
  }
}
