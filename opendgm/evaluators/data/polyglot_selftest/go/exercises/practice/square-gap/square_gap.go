package squaregap

func SquareOfSum(n int) int {
	panic("Please implement the SquareOfSum function")
}

func SumOfSquares(n int) int {
	panic("Please implement the SumOfSquares function")
}

func Gap(n int) int {
	panic("Please implement the Gap function")
}
