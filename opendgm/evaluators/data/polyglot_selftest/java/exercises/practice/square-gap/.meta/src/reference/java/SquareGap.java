class SquareGap {

    long squareOfSum(int n) {
        long total = Ranges.sum(n, 1);
        return total * total;
    }

    long sumOfSquares(int n) {
        return Ranges.sum(n, 2);
    }

    long gap(int n) {
        return squareOfSum(n) - sumOfSquares(n);
    }

}
