// The requests about sessions: the list's (create, rename, archive, list), whose answers are
// applied to the SessionList (sessionlist.js) the sidebar renders, and a session's run (cancel,
// regenerate). Retried (request.js) with the same payload: creation is idempotent by its id,
// updates by their values, a cancel or a regenerate of the same answer by the server's rules.

import { EVENTS } from "./protocol.js";

export class SessionRequests {
  /** `request(event, payload, attempts)` resolves to the ack; `uuid()` a new session id. */
  constructor({ sessions, request, uuid }) {
    Object.assign(this, { sessions, request, uuid });
  }

  create({ title, agent } = {}) {
    return this.#save(EVENTS.CREATE_SESSION, { id: this.uuid(), ...(title && { title }), ...(agent && { agent }) });
  }

  update(sessionId, changes) {
    return this.#save(EVENTS.UPDATE_SESSION, { session_id: sessionId, ...changes });
  }

  async refresh() {
    const reply = await this.request(EVENTS.LIST_SESSIONS, { limit: 100 }, 1);
    this.sessions.applyPage(reply.sessions);
  }

  /** Resolves to whether a run was cancelled. Tried again (as retry is) when its socket turned
   *  out dead, while `again()` says the answer it was meant for still streams (else false: no
   *  run was cancelled by it). A second cancel of the same run is answered `cancelled: false`. */
  async cancel(sessionId, again = () => true) {
    const reply = await this.request(EVENTS.CANCEL, { session_id: sessionId }, 3, again);
    return reply?.cancelled ?? false;
  }

  /** Resolves to whether a new answer to the question of answer `messageId` was queued. */
  async retryAnswer(sessionId, messageId) {
    return (await this.request(EVENTS.RETRY, { session_id: sessionId, message_id: messageId }, 3)).queued;
  }

  async #save(event, payload) {
    const reply = await this.request(event, payload, 3);
    this.sessions.upsert(reply.session);
    return reply.session;
  }
}
