// The benchmark's exercises ship Catch2's single header here; this one takes Debian's copy (catch2 2.13).
#include <catch2/catch.hpp>
