// The live GuardSystem: libnftables for the table, systemd-resolved's Manager over D-Bus for the
// links, files for the record and the boot unit.
#include <nftables/libnftables.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "host/dbus.h"
#include "host/guard.h"

namespace dnsleak::host {
namespace {

constexpr const char* kResolve = "org.freedesktop.resolve1";
constexpr const char* kResolvePath = "/org/freedesktop/resolve1";
constexpr const char* kResolveManager = "org.freedesktop.resolve1.Manager";

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : std::string(fallback);
}

struct NftCloser {
  void operator()(nft_ctx* c) const noexcept { nft_ctx_free(c); }
};
using Nft = std::unique_ptr<nft_ctx, NftCloser>;

Result<Nft> nft_context(bool json, bool dry_run) {
  Nft ctx(nft_ctx_new(NFT_CTX_DEFAULT));
  if (!ctx) return fail("cannot start libnftables");
  if (json) nft_ctx_output_set_flags(ctx.get(), NFT_CTX_OUTPUT_JSON);
  nft_ctx_set_dry_run(ctx.get(), dry_run);
  if (nft_ctx_buffer_output(ctx.get()) != 0 || nft_ctx_buffer_error(ctx.get()) != 0) {
    return fail("cannot buffer libnftables' output");
  }
  return ctx;
}

Error nft_error(nft_ctx* ctx, const char* what) {
  std::string text = nft_ctx_get_error_buffer(ctx);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.find("Operation not permitted") != std::string::npos) {
    return Error{concat({what, " needs CAP_NET_ADMIN (run as root)"}), EPERM};
  }
  return Error{concat({what, ": ", text}), 0};
}

Result<void> write_file_atomically(const std::string& path, const std::string& text, mode_t mode) {
  const std::string temporary = path + ".new";
  {
    std::ofstream out(temporary, std::ios::trunc);
    if (!out) return fail(system_error("cannot write " + temporary));
    out << text;
    out.flush();
    if (!out) return fail(system_error("cannot write " + temporary));
  }
  if (::chmod(temporary.c_str(), mode) != 0 || ::rename(temporary.c_str(), path.c_str()) != 0) {
    Error e = system_error("cannot put " + path + " in place");
    std::error_code ignored;  // the rename's error is the one to tell; a leftover .new is harmless
    std::filesystem::remove(temporary, ignored);
    return fail(std::move(e));
  }
  return {};
}

Result<std::optional<std::string>> read_optional(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return std::optional<std::string>();
    return fail(system_error("cannot read " + path));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return std::optional<std::string>(text.str());
}

class LiveGuardSystem final : public GuardSystem {
 public:
  LiveGuardSystem()
      : state_dir_(env_or("DNSLEAK_STATE_DIR", "/run/dnsleak")),
        unit_dir_(env_or("DNSLEAK_UNIT_DIR", "/etc/systemd/system")) {}

  Result<void> run_nft(const std::string& script, bool check_only) override {
    Result<Nft> ctx = nft_context(false, check_only);
    if (!ctx) return fail(std::move(ctx.error()));
    if (nft_run_cmd_from_buffer(ctx->get(), script.c_str()) != 0) {
      return fail(nft_error(ctx->get(), check_only ? "checking the guard's table" : "applying the guard's table"));
    }
    return {};
  }

  Result<std::optional<std::string>> list_table() override {
    Result<Nft> ctx = nft_context(true, false);
    if (!ctx) return fail(std::move(ctx.error()));
    if (nft_run_cmd_from_buffer(ctx->get(), "list table inet dnsleak") != 0) {
      const std::string text = nft_ctx_get_error_buffer(ctx->get());
      if (text.find("No such file or directory") != std::string::npos) return std::optional<std::string>();
      return fail(nft_error(ctx->get(), "reading the guard's table"));
    }
    return std::optional<std::string>(nft_ctx_get_output_buffer(ctx->get()));
  }

  Result<void> set_link_domains(uint32_t ifindex, const std::vector<ResolvedDomain>& domains) override {
    Result<SystemBus> bus = SystemBus::open();
    if (!bus) return fail(std::move(bus.error()));
    return bus->invoke(kResolve, kResolvePath, kResolveManager, "SetLinkDomains", [&](sd_bus_message* m) {
      int r = sd_bus_message_append(m, "i", static_cast<int32_t>(ifindex));
      if (r >= 0) r = sd_bus_message_open_container(m, 'a', "(sb)");
      for (const ResolvedDomain& d : domains) {
        if (r < 0) break;
        // resolved takes the name without the "~" and says routing-only with the flag.
        const std::string name = d.domain.starts_with('~') ? d.domain.substr(1) : d.domain;
        r = sd_bus_message_append(m, "(sb)", name.c_str(), static_cast<int>(d.routing_only));
      }
      return r < 0 ? r : sd_bus_message_close_container(m);
    });
  }

  Result<void> set_link_default_route(uint32_t ifindex, bool on) override {
    Result<SystemBus> bus = SystemBus::open();
    if (!bus) return fail(std::move(bus.error()));
    return bus->invoke(kResolve, kResolvePath, kResolveManager, "SetLinkDefaultRoute", [&](sd_bus_message* m) {
      return sd_bus_message_append(m, "ib", static_cast<int32_t>(ifindex), static_cast<int>(on));
    });
  }

  Result<std::optional<std::string>> read_record() override { return read_optional(record_path()); }

  Result<void> write_record(const std::string& json) override {
    std::error_code ec;
    std::filesystem::create_directories(state_dir_, ec);
    if (ec) return fail(Error{concat({"cannot create ", state_dir_, ": ", ec.message()}), ec.value()});
    return write_file_atomically(record_path(), json, 0644);
  }

  Result<void> remove_record() override {
    if (::unlink(record_path().c_str()) != 0 && errno != ENOENT)
      return fail(system_error("cannot remove " + record_path()));
    return {};
  }

  std::string record_path() const override { return state_dir_ + "/guard.json"; }

  Result<void> install_unit(const std::string& text) override {
    std::error_code made;
    std::filesystem::create_directories(unit_dir_, made);
    if (made) return fail(Error{concat({"cannot create ", unit_dir_, ": ", made.message()}), made.value()});
    if (Result<void> written = write_file_atomically(unit_path(), text, 0644); !written) return written;
    // What `systemctl enable` does for WantedBy=sysinit.target; the manager reads it at boot.
    const std::string wants = unit_dir_ + "/sysinit.target.wants";
    std::error_code ec;
    std::filesystem::create_directories(wants, ec);
    const std::string link = concat({wants, "/", kGuardUnit});
    std::filesystem::remove(link, ec);
    std::filesystem::create_symlink(unit_path(), link, ec);
    if (ec) return fail(Error{concat({"cannot enable ", kGuardUnit, " (", link, "): ", ec.message()}), ec.value()});
    return {};
  }

  Result<bool> remove_unit() override {
    std::error_code ec;
    const bool link = std::filesystem::remove(concat({unit_dir_, "/sysinit.target.wants/", kGuardUnit}), ec);
    if (ec) return fail(Error{concat({"cannot disable ", kGuardUnit, ": ", ec.message()}), ec.value()});
    const bool unit = std::filesystem::remove(unit_path(), ec);
    if (ec) return fail(Error{concat({"cannot remove ", unit_path(), ": ", ec.message()}), ec.value()});
    return link || unit;
  }

  bool unit_installed() const override {
    std::error_code ec;
    return std::filesystem::exists(unit_path(), ec);
  }

  std::string unit_path() const override { return concat({unit_dir_, "/", kGuardUnit}); }

 private:
  std::string state_dir_, unit_dir_;
};

}  // namespace

std::unique_ptr<GuardSystem> live_guard_system() { return std::make_unique<LiveGuardSystem>(); }

}  // namespace dnsleak::host
