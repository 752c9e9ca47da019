#include "square_gap.h"

namespace square_gap {

unsigned long square_of_sum(unsigned long n) {
    const unsigned long total = n * (n + 1) / 2;
    return total * total;
}

unsigned long sum_of_squares(unsigned long n) { return n * (n + 1) * (2 * n + 1) / 6; }

unsigned long gap(unsigned long n) { return square_of_sum(n) - sum_of_squares(n); }

}  // namespace square_gap
