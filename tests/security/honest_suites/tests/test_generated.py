import functools
import re
import unittest

import shop

CASES = {"one": ([1], 1), "two": ([1, 1], 2), "half": ([0.25, 0.25], 0.5)}


def checked(function):
    @functools.wraps(function)
    def wrapper(self, *args):
        self.assertTrue(True)
        return function(self, *args)

    return wrapper


def plain_decorator(function):
    def run(self):
        return function(self)

    return run


class GeneratedTest(unittest.TestCase):
    pattern = re.compile(r"\d+")
    to_float = functools.partial(float)
    maxDiff = None

    @checked
    def test_wrapped(self):
        self.assertEqual(shop.total([3]), 3)

    @plain_decorator
    def test_plain_decorated(self):
        self.assertEqual(shop.total([5]), 5)

    def test_pattern(self):
        self.assertTrue(self.pattern.match(str(shop.total([12]))))

    @staticmethod
    def helper(values):
        return shop.total(values)

    def test_helper(self):
        self.assertEqual(self.helper([1, 2]), 3)


def _make(prices, expected):
    def test(self):
        self.assertEqual(shop.total(prices), expected)

    return test


for _name, (_prices, _expected) in CASES.items():
    setattr(GeneratedTest, f"test_case_{_name}", _make(_prices, _expected))
