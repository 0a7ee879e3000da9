// The one error convention below the mains (docs/errors.md): a function that can fail returns
// `Result<T>`, that is `std::expected<T, Error>`, marked [[nodiscard]]. Exceptions are only for
// what a library throws and for the mains, which turn an Error into a message and an exit code.
#pragma once

#include <expected>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace dnsleak {

struct Error {
  std::string message;   // for a person: what failed and on what ("cannot bind 127.0.0.1:53: ...")
  int system_errno = 0;  // the errno behind it, 0 when it is not a system call's failure

  // Puts the context in front: Error{"permission denied"}.within("cannot bind 0.0.0.0:53").
  [[nodiscard]] Error within(std::string_view context) &&;
};

// Joins message parts in one allocation. (Also the way around GCC 12's false -Wrestrict on
// `"literal" + std::string`, GCC bug 105329.)
[[nodiscard]] std::string concat(std::initializer_list<std::string_view> parts);

template <class T>
using Result = std::expected<T, Error>;

// An Error carrying `what`, strerror(errno) and errno, read when it is called.
[[nodiscard]] Error system_error(std::string_view what);
[[nodiscard]] inline std::unexpected<Error> fail(std::string message) {
  return std::unexpected(Error{std::move(message), 0});
}
[[nodiscard]] inline std::unexpected<Error> fail(Error error) { return std::unexpected(std::move(error)); }

}  // namespace dnsleak
