export const squareOfSum = (n) => {
  const total = (n * (n + 1)) / 2;
  return total * total;
};

export const sumOfSquares = (n) => (n * (n + 1) * (2 * n + 1)) / 6;

export const gap = (n) => squareOfSum(n) - sumOfSquares(n);
