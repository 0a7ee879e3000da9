// What the fuzz targets assert beyond "no crash": an invariant that fails aborts, so libFuzzer
// keeps the input that broke it (asserts would vanish in release builds).
#pragma once

#include <cstdlib>

namespace dnsleak::fuzzing {

inline void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace dnsleak::fuzzing
