import doctest
import unittest

import shop


def load_tests(loader, tests, ignore):
    tests.addTests(doctest.DocTestSuite(shop))
    return tests


class PlainTest(unittest.TestCase):
    def test_parse(self):
        assert shop.parse_price("4") == 4.0
