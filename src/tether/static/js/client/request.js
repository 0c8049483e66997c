// A request that is worth repeating when the server was unreachable: pushed again, after the
// delays of the one retry policy, while the answer is `unavailable` or missing. Only idempotent
// requests (all of Tether's are) may be repeated after a timeout.

import { retryDelay } from "./retry.js";
import { realTimers } from "./timers.js";

export class RequestError extends Error {
  constructor(error) {
    super(error?.message ?? "request failed");
    this.code = error?.code;
  }
}

/** Push `event` up to `attempts` times; resolves to the ack, or rejects with a RequestError.
 *  `again()`, asked before each repeat: false resolves to null instead (not worth repeating). */
export async function request(connection, event, payload,
  { attempts = 1, timers = realTimers, random = Math.random, again = () => true } = {}) {
  let last = null;
  for (let tries = 0; tries < attempts; tries++) {
    if (tries > 0) {
      await new Promise((resolve) => timers.setTimeout(resolve, retryDelay(tries - 1, random)));
      if (!again()) return null;
    }
    const { status, response } = await connection.push(event, payload).promise();
    if (status === "ok") return response;
    last = status === "timeout" ? { code: "timeout", message: "no answer" } : response;
    if (status === "error" && last.code !== "unavailable") break;
  }
  throw new RequestError(last);
}
