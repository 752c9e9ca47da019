import os
import time
import unittest
from unittest import mock

import shop


class PatchedForTheClassTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.patchers = [
            mock.patch("os.getcwd", return_value="/fixed"),
            mock.patch.object(time, "time", return_value=7.0),
        ]
        for patcher in cls.patchers:
            patcher.start()

    @classmethod
    def tearDownClass(cls):
        for patcher in cls.patchers:
            patcher.stop()

    def test_here(self):
        self.assertEqual(shop.here(), "/fixed")

    def test_stamp(self):
        self.assertEqual(shop.stamp(), 7)

    def test_total(self):
        self.assertEqual(shop.total([0.1, 0.2]), 0.3)


class ClassCleanupTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        patcher = mock.patch.dict(os.environ, {"SHOP_ENV": "class"})
        patcher.start()
        cls.addClassCleanup(patcher.stop)

    def test_env(self):
        self.assertEqual(shop.env_name(), "class")
