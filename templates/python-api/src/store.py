"""In-memory item store for {{app}}: validation and bounded storage, kept apart from HTTP so it is easy to test."""
import threading

MAX_ITEMS = 1000
MAX_NAME = 100
MAX_QUANTITY = 1_000_000


class ValidationError(ValueError):
    """The request body does not describe a valid item; the message says which field and why."""


def validate_item(data):
    """Returns a clean {"name", "quantity"} dict from untrusted JSON data, or raises ValidationError."""
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object")
    unknown = sorted(set(data) - {"name", "quantity"})
    if unknown:
        raise ValidationError(f"unknown field '{unknown[0]}'")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("'name' must be a non-empty string")
    if len(name) > MAX_NAME:
        raise ValidationError(f"'name' must be at most {MAX_NAME} characters")
    quantity = data.get("quantity", 0)
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise ValidationError("'quantity' must be an integer")
    if not 0 <= quantity <= MAX_QUANTITY:
        raise ValidationError(f"'quantity' must be between 0 and {MAX_QUANTITY}")
    return {"name": name.strip(), "quantity": quantity}


class ItemStore:
    """Items by id, safe to share between the server's threads; holds at most max_items."""

    def __init__(self, max_items=MAX_ITEMS):
        self._lock = threading.Lock()
        self._items = {}
        self._next_id = 1
        self._max_items = max_items

    def add(self, data):
        item = validate_item(data)
        with self._lock:
            if len(self._items) >= self._max_items:
                raise ValidationError(f"the store is full ({self._max_items} items)")
            item["id"] = self._next_id
            self._next_id += 1
            self._items[item["id"]] = item
            return dict(item)

    def get(self, item_id):
        with self._lock:
            item = self._items.get(item_id)
            return dict(item) if item else None

    def remove(self, item_id):
        with self._lock:
            return self._items.pop(item_id, None) is not None

    def list(self):
        with self._lock:
            return [dict(self._items[k]) for k in sorted(self._items)]
