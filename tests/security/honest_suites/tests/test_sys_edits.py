import importlib
import os
import sys
import types
import unittest

import shop

sys.path.insert(0, os.path.dirname(__file__))


class SysEditTest(unittest.TestCase):
    def test_fake_module(self):
        fake = types.ModuleType("shop_plugin")
        fake.rate = lambda: 2
        sys.modules["shop_plugin"] = fake
        self.addCleanup(sys.modules.pop, "shop_plugin")
        import shop_plugin

        self.assertEqual(shop.total([shop_plugin.rate()]), 2)

    def test_reload(self):
        reloaded = importlib.reload(shop)
        self.assertEqual(reloaded.total([1, 2]), 3)

    def test_argv_and_path(self):
        sys.argv = ["shop", "--verbose"]
        sys.path.append("/nonexistent")
        self.assertEqual(shop.mean([1, 2, 3]), 2)

    def test_environ_unrestored(self):
        os.environ["SHOP_ENV"] = "dev"
        os.environ.pop("SHOP_MISSING", None)
        self.assertEqual(shop.env_name(), "dev")

    def test_recursion_limit(self):
        old = sys.getrecursionlimit()
        sys.setrecursionlimit(old + 100)
        self.addCleanup(sys.setrecursionlimit, old)
        self.assertEqual(shop.total([4]), 4)
