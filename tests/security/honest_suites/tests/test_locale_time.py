import datetime
import locale
import os
import time
import unittest
from unittest import mock

import shop


class LocaleTimeTest(unittest.TestCase):
    def test_setlocale(self):
        locale.setlocale(locale.LC_ALL, "C")
        self.assertEqual(locale.format_string("%.2f", shop.total([1, 2])), "3.00")

    def test_timezone(self):
        os.environ["TZ"] = "UTC"
        time.tzset()
        self.assertEqual(time.strftime("%Z", time.gmtime(0)), "UTC")

    def test_today_patched(self):
        fake = mock.Mock(wraps=datetime.date)
        fake.today.return_value = datetime.date(2020, 1, 2)
        with mock.patch("shop.datetime.date", fake):
            self.assertEqual(shop.today(), "2020-01-02")

    def test_sleep_patched(self):
        with mock.patch("time.sleep") as sleep:
            time.sleep(100)
        sleep.assert_called_once_with(100)
        self.assertEqual(shop.total([2]), 2)
