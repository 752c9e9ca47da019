class SquareGap {

    long squareOfSum(int n) {
        long total = (long) n * (n + 1) / 2;
        return total * total;
    }

    long sumOfSquares(int n) {
        return (long) n * (n + 1) * (2L * n + 1) / 6;
    }

    // The wrong sign on purpose: the self-test counts this solution's passing tests.
    long gap(int n) {
        return squareOfSum(n) + sumOfSquares(n);
    }

}
