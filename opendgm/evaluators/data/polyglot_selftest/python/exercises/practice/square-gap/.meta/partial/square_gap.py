def square_of_sum(number):
    return sum(range(1, number + 1)) ** 2


def sum_of_squares(number):
    return sum(value * value for value in range(1, number + 1))


def gap(number):
    return square_of_sum(number) + sum_of_squares(number)  # wrong sign: the gap tests fail
