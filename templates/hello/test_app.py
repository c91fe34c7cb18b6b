import unittest

from app import discounted


class DiscountTest(unittest.TestCase):
    def test_plain(self):
        self.assertEqual(discounted(1000, 10), 900)

    def test_rounds_down(self):
        self.assertEqual(discounted(1999, 15), 1699)

    def test_zero(self):
        self.assertEqual(discounted(500, 0), 500)

    def test_refuses_bad_percent(self):
        with self.assertRaises(ValueError):
            discounted(100, 95)

    def test_refuses_negative_price(self):
        with self.assertRaises(ValueError):
            discounted(-1, 5)


if __name__ == "__main__":
    unittest.main()
