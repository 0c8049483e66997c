// Web Push as the server offers it (docs/protocol.md, "Web Push"): its VAPID key from `hello.push`,
// and this browser's subscription stored for the user (or removed). Presence (presence.js) tells
// the server which chat is on screen, so that an answer the user is looking at is not pushed.

import { EVENTS } from "./protocol.js";

export class WebPush {
  /** `hello()` the server's last hello or null; `request(event, payload, attempts)` the ack. */
  constructor({ hello, request }) {
    Object.assign(this, { hello, request });
  }

  /** The server's VAPID public key when it offers Web Push, else null. */
  get key() { return this.hello()?.push?.public_key ?? null; }

  /** Store this browser's subscription (`PushSubscription.toJSON()`) for the user. */
  async subscribe(subscription, device) {
    const { endpoint, keys } = subscription;
    await this.request(EVENTS.PUSH_SUBSCRIBE, { endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth }, ...(device && { device }) }, 3);
  }

  /** Resolves to whether a subscription was removed. */
  async unsubscribe(endpoint) {
    return (await this.request(EVENTS.PUSH_UNSUBSCRIBE, { endpoint }, 3)).removed;
  }
}
