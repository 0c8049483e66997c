// JSON key-value storage over a Web Storage object (sessionStorage, localStorage, or a fake).
// Storage is best effort: a full quota or a disabled storage must never break the chat.

export class KeyValueStore {
  /**
   * @param {Storage | null} storage  a Web Storage; null gives a store that keeps nothing
   * @param {string} prefix           namespace of this store's keys
   */
  constructor(storage, prefix) {
    this.storage = storage;
    this.prefix = prefix;
  }

  get(key) {
    try {
      const raw = this.storage?.getItem(this.prefix + key);
      return raw == null ? null : JSON.parse(raw);
    } catch {
      return null;
    }
  }

  set(key, value) {
    try {
      this.storage?.setItem(this.prefix + key, JSON.stringify(value));
      return true;
    } catch {
      return false;
    }
  }

  delete(key) {
    try {
      this.storage?.removeItem(this.prefix + key);
    } catch {
      // nothing to do
    }
  }

  /** Every key of this store (without the prefix). */
  keys() {
    const keys = [];
    try {
      for (let i = 0; i < (this.storage?.length ?? 0); i++) {
        const key = this.storage.key(i);
        if (key?.startsWith(this.prefix)) keys.push(key.slice(this.prefix.length));
      }
    } catch {
      // storage unavailable: nothing stored
    }
    return keys;
  }
}
