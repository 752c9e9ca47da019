#include "square_gap.h"

namespace square_gap {

}  // namespace square_gap
