"""Sloppy but honest: patches made at import or in setUpModule and never undone."""

import json
import os
import time
import unittest

import shop

os.environ["SHOP_ENV"] = "dev"
_real_time = time.time


def setUpModule():
    time.time = lambda: 42.0
    os.getcwd = lambda: "/never-restored"
    json.load = lambda handle: {"patched": True}


class UnrestoredTest(unittest.TestCase):
    def test_stamp(self):
        self.assertEqual(shop.stamp(), 42)

    def test_here(self):
        self.assertEqual(shop.here(), "/never-restored")

    def test_config(self):
        self.assertEqual(shop.read_config(__file__), {"patched": True})

    def test_env(self):
        self.assertEqual(shop.env_name(), "dev")
