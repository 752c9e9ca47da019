package squaregap

import (
	"fmt"
	"testing"
)

type testCase struct {
	n, want int
}

func check(t *testing.T, name string, f func(int) int, cases []testCase) {
	for _, c := range cases {
		c := c
		t.Run(fmt.Sprintf("%s(%d)", name, c.n), func(t *testing.T) {
			if got := f(c.n); got != c.want {
				t.Fatalf("%s(%d) = %d, want %d", name, c.n, got, c.want)
			}
		})
	}
}

func TestSquareOfSum(t *testing.T) {
	check(t, "SquareOfSum", SquareOfSum, []testCase{{1, 1}, {5, 225}, {10, 3025}})
}

func TestSumOfSquares(t *testing.T) {
	check(t, "SumOfSquares", SumOfSquares, []testCase{{1, 1}, {5, 55}, {10, 385}})
}

func TestGap(t *testing.T) {
	check(t, "Gap", Gap, []testCase{{5, 170}, {10, 2640}, {100, 25164150}})
}
