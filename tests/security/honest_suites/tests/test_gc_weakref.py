import gc
import sys
import unittest
import weakref

import shop


class Thing:
    pass


class GcTest(unittest.TestCase):
    def test_collect(self):
        thing = Thing()
        ref = weakref.ref(thing)
        del thing
        gc.collect()
        self.assertIsNone(ref())
        self.assertEqual(shop.total([1]), 1)

    def test_disable_enable(self):
        gc.disable()
        try:
            self.assertEqual(shop.mean([1, 3]), 2)
        finally:
            gc.enable()

    def test_finalize(self):
        called = []
        thing = Thing()
        weakref.finalize(thing, called.append, "done")
        del thing
        gc.collect()
        self.assertEqual(called, ["done"])

    def test_no_leak_by_referrers(self):
        values = [1, 2]
        holder = {"values": values}
        shop.total(values)
        self.assertIn(holder, gc.get_referrers(values))

    def test_refcount(self):
        values = [1.0]
        self.assertGreaterEqual(sys.getrefcount(values), 2)
        self.assertTrue(gc.is_tracked(values))
