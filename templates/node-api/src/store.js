// In-memory item store for {{app}}: validation and bounded storage, kept apart from HTTP so it is easy to test.

export const MAX_ITEMS = 1000;
export const MAX_NAME = 100;
export const MAX_QUANTITY = 1_000_000;

// The request body does not describe a valid item; the message says which field and why.
export class ValidationError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ValidationError';
  }
}

// Returns a clean {name, quantity} object from untrusted JSON data, or throws ValidationError.
export function validateItem(data) {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ValidationError('expected a JSON object');
  }
  const unknown = Object.keys(data).filter((k) => k !== 'name' && k !== 'quantity').sort();
  if (unknown.length > 0) {
    throw new ValidationError(`unknown field '${unknown[0]}'`);
  }
  const { name } = data;
  if (typeof name !== 'string' || name.trim() === '') {
    throw new ValidationError("'name' must be a non-empty string");
  }
  if (name.length > MAX_NAME) {
    throw new ValidationError(`'name' must be at most ${MAX_NAME} characters`);
  }
  const quantity = data.quantity ?? 0;
  if (!Number.isInteger(quantity)) {
    throw new ValidationError("'quantity' must be an integer");
  }
  if (quantity < 0 || quantity > MAX_QUANTITY) {
    throw new ValidationError(`'quantity' must be between 0 and ${MAX_QUANTITY}`);
  }
  return { name: name.trim(), quantity };
}

// Items by id; holds at most maxItems. Node runs handlers on one thread, so no locking is needed.
export class ItemStore {
  #items = new Map();
  #nextId = 1;
  #maxItems;

  constructor(maxItems = MAX_ITEMS) {
    this.#maxItems = maxItems;
  }

  add(data) {
    const item = validateItem(data);
    if (this.#items.size >= this.#maxItems) {
      throw new ValidationError(`the store is full (${this.#maxItems} items)`);
    }
    const stored = { id: this.#nextId++, ...item };
    this.#items.set(stored.id, stored);
    return { ...stored };
  }

  get(id) {
    const item = this.#items.get(id);
    return item ? { ...item } : null;
  }

  remove(id) {
    return this.#items.delete(id);
  }

  list() {
    return [...this.#items.values()].sort((a, b) => a.id - b.id).map((item) => ({ ...item }));
  }
}
