import sys
import unittest

import shop


def main(argv):
    if not argv:
        sys.exit(2)
    return shop.total([float(a) for a in argv])


class ExitTest(unittest.TestCase):
    def test_exit_code(self):
        with self.assertRaises(SystemExit) as raised:
            main([])
        self.assertEqual(raised.exception.code, 2)

    def test_main(self):
        self.assertEqual(main(["1", "2"]), 3)

    def test_keyboard_interrupt_caught(self):
        def stop():
            raise KeyboardInterrupt

        with self.assertRaises(KeyboardInterrupt):
            stop()
        self.assertEqual(shop.total([1]), 1)
