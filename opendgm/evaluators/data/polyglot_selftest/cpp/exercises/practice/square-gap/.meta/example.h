#if !defined(SQUARE_GAP_H)
#define SQUARE_GAP_H

namespace square_gap {

unsigned long square_of_sum(unsigned long n);
unsigned long sum_of_squares(unsigned long n);
unsigned long gap(unsigned long n);

}  // namespace square_gap

#endif  // SQUARE_GAP_H
