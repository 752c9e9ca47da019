export const squareOfSum = (n) => {
  throw new Error('Remove this statement and implement this function');
};

export const sumOfSquares = (n) => {
  throw new Error('Remove this statement and implement this function');
};

export const gap = (n) => {
  throw new Error('Remove this statement and implement this function');
};
