import os
import time
import unittest
from unittest import mock

import shop


class MockDecoratorTest(unittest.TestCase):
    @mock.patch("os.getcwd", return_value="/somewhere")
    def test_here_patched(self, getcwd):
        self.assertEqual(shop.here(), "/somewhere")
        getcwd.assert_called_once_with()

    @mock.patch.object(time, "time", return_value=1000.5)
    def test_stamp_patched(self, _time):
        self.assertEqual(shop.stamp(), 1000)

    @mock.patch.dict(os.environ, {"SHOP_ENV": "test"})
    def test_env_patched(self):
        self.assertEqual(shop.env_name(), "test")

    @mock.patch("shop.log")
    def test_sell_logs(self, log):
        shop.sell("pen")
        log.info.assert_called_once_with("sold %s", "pen")

    def test_total(self):
        self.assertEqual(shop.total([1.25, 2.5]), 3.75)


@mock.patch("os.getcwd", return_value="/class-level")
class ClassDecoratorTest(unittest.TestCase):
    def test_here(self, getcwd):
        self.assertEqual(shop.here(), "/class-level")

    def test_total(self, getcwd):
        self.assertEqual(shop.total([1]), 1)
