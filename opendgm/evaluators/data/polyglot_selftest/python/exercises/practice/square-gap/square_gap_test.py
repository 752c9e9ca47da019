import unittest

from square_gap import gap, square_of_sum, sum_of_squares


class SquareOfSumTest(unittest.TestCase):
    def test_square_of_sum_of_one(self):
        self.assertEqual(square_of_sum(1), 1)

    def test_square_of_sum_of_five(self):
        self.assertEqual(square_of_sum(5), 225)

    def test_square_of_sum_of_ten(self):
        self.assertEqual(square_of_sum(10), 3025)


class SumOfSquaresTest(unittest.TestCase):
    def test_sum_of_squares_of_one(self):
        self.assertEqual(sum_of_squares(1), 1)

    def test_sum_of_squares_of_five(self):
        self.assertEqual(sum_of_squares(5), 55)

    def test_sum_of_squares_of_ten(self):
        self.assertEqual(sum_of_squares(10), 385)


class GapTest(unittest.TestCase):
    def test_gap_of_five(self):
        self.assertEqual(gap(5), 170)

    def test_gap_of_ten(self):
        self.assertEqual(gap(10), 2640)

    def test_gap_of_one_hundred(self):
        self.assertEqual(gap(100), 25164150)


if __name__ == "__main__":
    unittest.main()
