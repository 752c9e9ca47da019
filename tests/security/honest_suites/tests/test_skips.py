import sys
import unittest

import shop


class SkipTest(unittest.TestCase):
    @unittest.skip("not today")
    def test_skipped(self):
        self.fail("never runs")

    @unittest.skipIf(sys.platform == "linux", "not on linux")
    def test_skipped_if(self):
        self.fail("never runs")

    @unittest.skipUnless(sys.platform == "linux", "linux only")
    def test_runs_on_linux(self):
        self.assertEqual(shop.total([1, 1]), 2)

    def test_skip_in_body(self):
        self.skipTest("decided at run time")

    @unittest.expectedFailure
    def test_known_bug(self):
        self.assertEqual(shop.mean([1, 2]), 2)

    def test_plain(self):
        self.assertEqual(shop.mean([2, 4]), 3)


@unittest.skip("whole class")
class SkippedClassTest(unittest.TestCase):
    def test_nothing(self):
        self.fail("never runs")
