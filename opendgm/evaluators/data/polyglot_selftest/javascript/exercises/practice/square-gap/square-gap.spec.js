import { gap, squareOfSum, sumOfSquares } from './square-gap';

describe('square of the sum', () => {
  test('of one', () => {
    expect(squareOfSum(1)).toEqual(1);
  });

  xtest('of five', () => {
    expect(squareOfSum(5)).toEqual(225);
  });

  xtest('of ten', () => {
    expect(squareOfSum(10)).toEqual(3025);
  });
});

describe('sum of the squares', () => {
  xtest('of one', () => {
    expect(sumOfSquares(1)).toEqual(1);
  });

  xtest('of five', () => {
    expect(sumOfSquares(5)).toEqual(55);
  });

  test.skip('of ten', () => {
    expect(sumOfSquares(10)).toEqual(385);
  });
});

describe('gap', () => {
  xtest('of five', () => {
    expect(gap(5)).toEqual(170);
  });

  xtest('of ten', () => {
    expect(gap(10)).toEqual(2640);
  });

  xtest('of one hundred', () => {
    expect(gap(100)).toEqual(25164150);
  });
});
