import os
import shutil
import tempfile
import unittest

import shop

EVENTS = []


def setUpModule():
    EVENTS.append("module")


def tearDownModule():
    EVENTS.clear()


class FixtureTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder = tempfile.mkdtemp()
        cls.prices = [1.5, 2.5]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.folder)

    def setUp(self):
        self.path = os.path.join(self.folder, "config.json")
        with open(self.path, "w") as handle:
            handle.write('{"currency": "EUR"}')
        self.addCleanup(os.remove, self.path)

    def tearDown(self):
        self.prices = None

    def test_config(self):
        self.assertEqual(shop.read_config(self.path)["currency"], "EUR")

    def test_total(self):
        self.assertEqual(shop.total(self.prices), 4.0)

    def test_module_fixture_ran(self):
        self.assertEqual(EVENTS, ["module"])


class Mixin:
    def test_mean(self):
        self.assertEqual(shop.mean(self.values), 2)


class IntsTest(Mixin, unittest.TestCase):
    values = (1, 2, 3)


class FloatsTest(Mixin, unittest.TestCase):
    values = (1.0, 3.0)

    def test_total_of_values(self):
        self.assertEqual(shop.total(self.values), 4.0)


class Money:
    def __init__(self, cents):
        self.cents = cents


class TypeEqualityTest(unittest.TestCase):
    def setUp(self):
        self.addTypeEqualityFunc(Money, self.assertMoneyEqual)

    def assertMoneyEqual(self, first, second, msg=None):
        if first.cents != second.cents:
            raise self.failureException(msg or f"{first.cents} != {second.cents}")

    def test_money(self):
        self.assertEqual(Money(round(shop.total([1.25, 2.5]) * 100)), Money(375))
