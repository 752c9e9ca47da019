class SquareGap {

    long squareOfSum(int n) {
        throw new UnsupportedOperationException("Delete this statement and write your own implementation.");
    }

    long sumOfSquares(int n) {
        throw new UnsupportedOperationException("Delete this statement and write your own implementation.");
    }

    long gap(int n) {
        throw new UnsupportedOperationException("Delete this statement and write your own implementation.");
    }

}
