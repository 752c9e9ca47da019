import builtins
import io
import os
import unittest
from unittest import mock

import shop


class MockContextTest(unittest.TestCase):
    def test_open_patched(self):
        with mock.patch("builtins.open", mock.mock_open(read_data='{"a": 1}')):
            self.assertEqual(shop.read_config("x.json"), {"a": 1})

    def test_patch_object_context(self):
        with mock.patch.object(os, "getcwd", return_value="/ctx"):
            self.assertEqual(shop.here(), "/ctx")
        self.assertNotEqual(os.getcwd(), "/ctx")

    def test_print_captured(self):
        with mock.patch("sys.stdout", new_callable=io.StringIO) as out:
            print("hello")
        self.assertEqual(out.getvalue(), "hello\n")

    def test_checkout_calls_pay(self):
        pay = mock.Mock(return_value="paid")
        self.assertEqual(shop.checkout([2, 3], pay), "paid")
        pay.assert_called_once_with(5)

    def test_checkout_empty(self):
        with self.assertRaises(ValueError):
            shop.checkout([], mock.Mock())

    def test_patcher_start_with_cleanup(self):
        patcher = mock.patch.object(builtins, "input", return_value="y")
        patcher.start()
        self.addCleanup(patcher.stop)
        self.assertEqual(input(), "y")
        self.assertEqual(shop.env_name(), "dev")
