const upTo = (n) => Array.from({ length: n }, (_, i) => i + 1);

export const squareOfSum = (n) => upTo(n).reduce((a, b) => a + b, 0) ** 2;

export const sumOfSquares = (n) => upTo(n).reduce((a, b) => a + b * b, 0);

// The wrong sign on purpose: the self-test counts this solution's passing tests.
export const gap = (n) => squareOfSum(n) + sumOfSquares(n);
