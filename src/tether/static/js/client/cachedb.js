// The chat cache's records in IndexedDB: one object store of `{key, ...}` records, with the
// four operations cache.js needs, as promises. Any failure (a private window, a full disk, a
// blocked upgrade) rejects, and the cache carries on without storage: it is best effort.

const STORE = "records";

function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

export class IndexedDbRecords {
  /** @param {IDBFactory} factory  `indexedDB`; @param {string} name  the database's name */
  constructor(factory, name = "tether-cache") {
    this.opening = new Promise((resolve, reject) => {
      const request = factory.open(name, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: "key" });
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
      request.onblocked = () => reject(new Error("IndexedDB blocked"));
    });
    this.opening.catch(() => {}); // reported by the first operation
  }

  async #store(mode) {
    return (await this.opening).transaction(STORE, mode).objectStore(STORE);
  }

  async getAll() { return done((await this.#store("readonly")).getAll()); }

  /** Write several records and delete several keys in one transaction. */
  async write(puts, deletes = []) {
    const store = await this.#store("readwrite");
    const finished = new Promise((resolve, reject) => {
      store.transaction.oncomplete = () => resolve();
      store.transaction.onerror = () => reject(store.transaction.error);
      store.transaction.onabort = () => reject(store.transaction.error ?? new Error("aborted"));
    });
    for (const key of deletes) store.delete(key);
    for (const record of puts) store.put(record);
    return finished;
  }

  async clear() { return done((await this.#store("readwrite")).clear()); }
}

/** The browser's records, or null where IndexedDB is missing. */
export function browserRecords(win = globalThis) {
  try {
    return win.indexedDB ? new IndexedDbRecords(win.indexedDB) : null;
  } catch {
    return null;
  }
}
