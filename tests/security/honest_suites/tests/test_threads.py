import concurrent.futures
import queue
import threading
import unittest

import shop


class ThreadTest(unittest.TestCase):
    def test_pool(self):
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(shop.total, [[1, 2], [3, 4], [0.5, 0.5]]))
        self.assertEqual(results, [3, 7, 1])

    def test_thread_and_queue(self):
        out = queue.Queue()
        worker = threading.Thread(target=lambda: out.put(shop.mean([2, 4, 6])))
        worker.start()
        worker.join()
        self.assertEqual(out.get_nowait(), 4)

    def test_lock_and_event(self):
        lock, done = threading.Lock(), threading.Event()
        counter = []

        def work():
            with lock:
                counter.append(shop.total([1]))
            done.set()

        threading.Thread(target=work, daemon=True).start()
        self.assertTrue(done.wait(5))
        self.assertEqual(counter, [1])
