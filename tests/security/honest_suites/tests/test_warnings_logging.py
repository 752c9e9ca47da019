import logging
import unittest
import warnings

import shop

warnings.simplefilter("default")
logging.basicConfig(level=logging.DEBUG)


class WarningTest(unittest.TestCase):
    def test_assert_warns(self):
        with self.assertWarns(DeprecationWarning):
            shop.old_api()

    def test_catch_warnings(self):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            shop.old_api()
        self.assertEqual([w.category for w in caught], [DeprecationWarning])

    def test_warning_as_error(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with self.assertRaises(DeprecationWarning):
                shop.old_api()


class LoggingTest(unittest.TestCase):
    def test_assert_logs(self):
        with self.assertLogs("shop", level="INFO") as logs:
            shop.sell("book")
        self.assertEqual(logs.output, ["INFO:shop:sold book"])

    def test_handler_added(self):
        records = []
        handler = logging.Handler()
        handler.emit = records.append
        logging.getLogger("shop").addHandler(handler)
        self.addCleanup(logging.getLogger("shop").removeHandler, handler)
        shop.sell("cup")
        self.assertEqual(len(records), 1)
