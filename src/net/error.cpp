#include "net/error.h"

#include <cerrno>
#include <cstring>

namespace dnsleak {

std::string concat(std::initializer_list<std::string_view> parts) {
  size_t length = 0;
  for (const std::string_view part : parts) length += part.size();
  std::string out;
  out.reserve(length);
  for (const std::string_view part : parts) out.append(part);
  return out;
}

Error Error::within(std::string_view context) && {
  message = concat({context, ": ", message});
  return std::move(*this);
}

Error system_error(std::string_view what) {
  const int saved = errno;
  return Error{concat({what, ": ", std::strerror(saved)}), saved};
}

}  // namespace dnsleak
