import unittest

import shop


class SubTestTest(unittest.TestCase):
    def test_totals(self):
        for prices, expected in (([1, 2], 3), ([0.5, 0.25], 0.75), ([], 0)):
            with self.subTest(prices=prices):
                self.assertEqual(shop.total(prices), expected)

    def test_parse(self):
        for text in ("1", "2.5", "10"):
            with self.subTest(text):
                self.assertEqual(shop.parse_price(text), float(text))
