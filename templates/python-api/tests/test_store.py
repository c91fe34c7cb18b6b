import threading
import unittest

from store import MAX_NAME, ItemStore, ValidationError, validate_item


class ValidateItemTest(unittest.TestCase):
    def test_accepts_and_cleans(self):
        self.assertEqual(validate_item({"name": "  bolts ", "quantity": 3}), {"name": "bolts", "quantity": 3})

    def test_quantity_defaults_to_zero(self):
        self.assertEqual(validate_item({"name": "nuts"})["quantity"], 0)

    def test_refuses_non_objects(self):
        for bad in (None, [], "name", 3):
            with self.assertRaisesRegex(ValidationError, "JSON object"):
                validate_item(bad)

    def test_refuses_unknown_fields(self):
        with self.assertRaisesRegex(ValidationError, "unknown field 'price'"):
            validate_item({"name": "a", "price": 1})

    def test_refuses_bad_names(self):
        for bad in ("", "   ", 5, None, "x" * (MAX_NAME + 1)):
            with self.assertRaises(ValidationError):
                validate_item({"name": bad})

    def test_refuses_bad_quantities(self):
        for bad in (-1, 1_000_001, 1.5, "3", True):
            with self.assertRaisesRegex(ValidationError, "quantity"):
                validate_item({"name": "a", "quantity": bad})


class ItemStoreTest(unittest.TestCase):
    def test_add_get_list_remove(self):
        store = ItemStore()
        a = store.add({"name": "a", "quantity": 1})
        b = store.add({"name": "b"})
        self.assertEqual((a["id"], b["id"]), (1, 2))
        self.assertEqual(store.get(2), {"id": 2, "name": "b", "quantity": 0})
        self.assertEqual([i["name"] for i in store.list()], ["a", "b"])
        self.assertTrue(store.remove(1))
        self.assertFalse(store.remove(1))
        self.assertIsNone(store.get(1))

    def test_returned_items_are_copies(self):
        store = ItemStore()
        store.add({"name": "a"})["name"] = "changed"
        self.assertEqual(store.get(1)["name"], "a")

    def test_is_bounded(self):
        store = ItemStore(max_items=2)
        store.add({"name": "a"})
        store.add({"name": "b"})
        with self.assertRaisesRegex(ValidationError, "full"):
            store.add({"name": "c"})

    def test_ids_are_unique_across_threads(self):
        store = ItemStore()
        threads = [threading.Thread(target=lambda: [store.add({"name": "x"}) for _ in range(50)]) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ids = [i["id"] for i in store.list()]
        self.assertEqual(sorted(ids), list(range(1, 201)))


if __name__ == "__main__":
    unittest.main()
