#include "square_gap.h"
#ifdef EXERCISM_TEST_SUITE
#include <catch2/catch.hpp>
#else
#include "test/catch.hpp"
#endif

TEST_CASE("square_of_sum_of_one") { REQUIRE(1UL == square_gap::square_of_sum(1)); }

#if defined(EXERCISM_RUN_ALL_TESTS)
TEST_CASE("square_of_sum_of_five") { REQUIRE(225UL == square_gap::square_of_sum(5)); }

TEST_CASE("square_of_sum_of_ten") { REQUIRE(3025UL == square_gap::square_of_sum(10)); }

TEST_CASE("sum_of_squares_of_one") { REQUIRE(1UL == square_gap::sum_of_squares(1)); }

TEST_CASE("sum_of_squares_of_five") { REQUIRE(55UL == square_gap::sum_of_squares(5)); }

TEST_CASE("sum_of_squares_of_ten") { REQUIRE(385UL == square_gap::sum_of_squares(10)); }

TEST_CASE("gap_of_five") { REQUIRE(170UL == square_gap::gap(5)); }

TEST_CASE("gap_of_ten") { REQUIRE(2640UL == square_gap::gap(10)); }

TEST_CASE("gap_of_one_hundred") { REQUIRE(25164150UL == square_gap::gap(100)); }
#endif
