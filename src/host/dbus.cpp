#include "host/dbus.h"

#include <systemd/sd-bus.h>

#include <cerrno>
#include <cstring>

namespace dnsleak::host {
namespace {

Error bus_error(const char* what, int r, sd_bus_error* e) {
  std::string text = concat({what, ": "});
  text += (sd_bus_error_is_set(e) != 0 && e->message != nullptr) ? e->message : std::strerror(-r);
  sd_bus_error_free(e);
  return Error{std::move(text), -r};
}

}  // namespace

void BusMessageCloser::operator()(sd_bus_message* m) const noexcept { sd_bus_message_unref(m); }
void SystemBus::Closer::operator()(sd_bus* b) const noexcept { sd_bus_flush_close_unref(b); }

Result<SystemBus> SystemBus::open() {
  sd_bus* raw = nullptr;
  if (const int r = sd_bus_open_system(&raw); r < 0) {
    Error e{concat({"no system bus: ", std::strerror(-r)}), ENOENT};
    return fail(std::move(e));
  }
  SystemBus bus;
  bus.bus_.reset(raw);
  return bus;
}

bool SystemBus::has_owner(const char* service) const noexcept {
  return sd_bus_get_name_creds(bus_.get(), service, 0, nullptr) >= 0;
}

Result<BusMessage> SystemBus::call(const char* service, const char* path, const char* interface, const char* method,
                                   const char* types, int argument) const {
  sd_bus_error error = SD_BUS_ERROR_NULL;
  sd_bus_message* reply = nullptr;
  const int r = types[0] == '\0'
                    ? sd_bus_call_method(bus_.get(), service, path, interface, method, &error, &reply, nullptr)
                    : sd_bus_call_method(bus_.get(), service, path, interface, method, &error, &reply, types, argument);
  BusMessage m(reply);
  if (r < 0) return fail(bus_error(method, r, &error));
  return m;
}

Result<void> SystemBus::invoke(const char* service, const char* path, const char* interface, const char* method,
                               const std::function<int(sd_bus_message*)>& append) const {
  sd_bus_message* raw = nullptr;
  if (const int r = sd_bus_message_new_method_call(bus_.get(), &raw, service, path, interface, method); r < 0) {
    return fail(Error{concat({method, ": ", std::strerror(-r)}), -r});
  }
  const BusMessage call(raw);
  if (const int r = append(raw); r < 0)
    return fail(Error{concat({method, ": its arguments: ", std::strerror(-r)}), -r});
  sd_bus_error error = SD_BUS_ERROR_NULL;
  sd_bus_message* reply = nullptr;
  const int r = sd_bus_call(bus_.get(), raw, 0, &error, &reply);
  const BusMessage m(reply);
  if (r < 0) return fail(bus_error(method, r, &error));
  return {};
}

Result<BusMessage> SystemBus::property(const char* service, const char* path, const char* interface, const char* name,
                                       const char* signature) const {
  sd_bus_error error = SD_BUS_ERROR_NULL;
  sd_bus_message* reply = nullptr;
  const int r = sd_bus_call_method(bus_.get(), service, path, "org.freedesktop.DBus.Properties", "Get", &error, &reply,
                                   "ss", interface, name);
  BusMessage m(reply);
  if (r < 0) return fail(bus_error(name, r, &error));
  const char* contents = nullptr;
  char type = 0;
  if (sd_bus_message_peek_type(m.get(), &type, &contents) < 0 || type != 'v' || contents == nullptr ||
      std::strcmp(contents, signature) != 0 || sd_bus_message_enter_container(m.get(), 'v', signature) <= 0) {
    return fail(concat({name, " is not of type ", signature, contents != nullptr ? " but " : "",
                        contents != nullptr ? contents : ""}));
  }
  return m;
}

Result<std::string> SystemBus::string_property(const char* service, const char* path, const char* interface,
                                               const char* name) const {
  Result<BusMessage> m = property(service, path, interface, name, "s");
  if (!m) return fail(std::move(m.error()));
  const char* value = nullptr;
  if (sd_bus_message_read(m->get(), "s", &value) < 0) return fail(concat({name, ": unreadable"}));
  return std::string(value != nullptr ? value : "");
}

}  // namespace dnsleak::host
