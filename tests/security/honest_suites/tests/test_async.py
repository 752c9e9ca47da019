import asyncio
import unittest

import shop


class AsyncTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.value = await shop.fetch(1)
        self.addAsyncCleanup(self.closing)

    async def closing(self):
        await asyncio.sleep(0)

    def setUp(self):
        self.base = 10

    async def test_fetch(self):
        self.assertEqual(await shop.fetch(self.base), 20)

    async def test_set_up_value(self):
        self.assertEqual(self.value, 2)

    async def test_gather(self):
        self.assertEqual(await asyncio.gather(shop.fetch(1), shop.fetch(2)), [2, 4])

    def test_sync_in_async_case(self):
        self.assertEqual(shop.total([1, 2]), 3)


class AsyncioRunTest(unittest.TestCase):
    def test_asyncio_run(self):
        self.assertEqual(asyncio.run(shop.fetch(3)), 6)
