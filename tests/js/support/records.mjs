// An in-memory stand-in for the chat cache's IndexedDB records (client/cachedb.js): the same
// three async operations, over a Map, with hooks to make them fail or hang.

export class MemoryRecords {
  constructor(records = []) {
    this.map = new Map(records.map((r) => [r.key, structuredClone(r)]));
    this.writes = 0;
    this.failing = false;
    this.hanging = false;
  }

  #check() {
    if (this.hanging) return new Promise(() => {});
    if (this.failing) return Promise.reject(new Error("QuotaExceededError"));
    return null;
  }

  async getAll() {
    await (this.#check() ?? Promise.resolve());
    return [...this.map.values()].map((r) => structuredClone(r));
  }

  async write(puts, deletes = []) {
    await (this.#check() ?? Promise.resolve());
    this.writes += 1;
    for (const key of deletes) this.map.delete(key);
    for (const record of puts) this.map.set(record.key, structuredClone(record));
  }

  async clear() {
    await (this.#check() ?? Promise.resolve());
    this.map.clear();
  }

  get(key) { return this.map.get(key) ?? null; }
  get keys() { return [...this.map.keys()].sort(); }
}
