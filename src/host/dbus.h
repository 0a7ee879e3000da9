// The little of sd-bus that dnsleak needs: the system bus (or the one DBUS_SYSTEM_BUS_ADDRESS
// names), whether a service runs, and a property read with its type checked. Every failure is an
// Error that names the property and, for a type mismatch, both types.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "net/error.h"

struct sd_bus;
struct sd_bus_message;

namespace dnsleak::host {

struct BusMessageCloser {
  void operator()(sd_bus_message* m) const noexcept;
};
using BusMessage = std::unique_ptr<sd_bus_message, BusMessageCloser>;

class SystemBus {
 public:
  // ENOENT when there is no bus to connect to.
  [[nodiscard]] static Result<SystemBus> open();
  [[nodiscard]] bool has_owner(const char* service) const noexcept;
  // The reply of Properties.Get, entered into its variant of `signature`.
  [[nodiscard]] Result<BusMessage> property(const char* service, const char* path, const char* interface,
                                            const char* name, const char* signature) const;
  [[nodiscard]] Result<std::string> string_property(const char* service, const char* path, const char* interface,
                                                    const char* name) const;
  // A method's reply (for GetLink and the like).
  [[nodiscard]] Result<BusMessage> call(const char* service, const char* path, const char* interface,
                                        const char* method, const char* types, int argument) const;
  // A method whose arguments `append` adds to the message (sd_bus_message_append and the like,
  // returning what they return); its reply is not read.
  [[nodiscard]] Result<void> invoke(const char* service, const char* path, const char* interface, const char* method,
                                    const std::function<int(sd_bus_message*)>& append) const;
  [[nodiscard]] sd_bus* get() const noexcept { return bus_.get(); }

 private:
  struct Closer {
    void operator()(sd_bus* b) const noexcept;
  };
  std::unique_ptr<sd_bus, Closer> bus_;
};

}  // namespace dnsleak::host
