#if !defined(SQUARE_GAP_H)
#define SQUARE_GAP_H

namespace square_gap {

}  // namespace square_gap

#endif  // SQUARE_GAP_H
