// A second reference file, as some of the benchmark's Java references have (the grader places it too).
final class Ranges {

    private Ranges() {
    }

    static long sum(int n, int power) {
        long total = 0;
        for (int i = 1; i <= n; i++) {
            total += (long) Math.pow(i, power);
        }
        return total;
    }

}
