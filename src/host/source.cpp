#include "host/source.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "host/firewall.h"
#include "host/network_manager.h"
#include "host/resolved.h"
#include "host/resolver_config.h"

namespace dnsleak::host {
namespace {

namespace fs = std::filesystem;

Result<std::string> read_text(const fs::path& path, size_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int e = errno;
    Error error{concat({"cannot read ", path.string(), ": ", std::strerror(e)}), e};
    return fail(std::move(error));
  }
  std::string text(limit, '\0');
  in.read(text.data(), static_cast<std::streamsize>(limit));
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

Result<void> write_bytes(const fs::path& path, const void* data, size_t size) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) return fail(concat({"cannot write ", path.string()}));
  return {};
}

// "/etc/resolv.conf" -> "file/etc/resolv.conf"; ".." and empty parts are refused.
Result<fs::path> file_entry(const fs::path& root, const std::string& path) {
  if (path.empty() || path.front() != '/' || path.find("/../") != std::string::npos || path.ends_with("/..")) {
    return fail(concat({"not an absolute clean path: ", path}));
  }
  return root / "file" / path.substr(1);
}

fs::path route_entry(const fs::path& root, const net::IpAddress& destination) {
  std::string name = destination.to_string();
  for (char& c : name) c = c == ':' ? '_' : c;
  return root / "route-get" / name;
}

class LiveHost final : public HostSource {
 public:
  Result<std::string> read_file(const std::string& path) override { return read_text(path, kMaxConfigFile + 1); }
  Result<std::vector<std::byte>> dump(Dump what) override { return netlink_dump(what); }
  Result<std::vector<std::byte>> route_get(const net::IpAddress& destination) override {
    return netlink_route_get(destination);
  }
  Result<std::string> firewall_ruleset() override { return list_ruleset_json(); }
  Result<std::string> resolved_state(const std::vector<uint32_t>& links) override { return read_resolved_json(links); }
  Result<std::string> network_manager_dns() override { return read_network_manager_json(); }
};

// A recorded error: its message, and the errno as the first line.
Result<void> record_error(const fs::path& path, const Error& error) {
  const std::string text = std::to_string(error.system_errno) + "\n" + error.message;
  return write_bytes(fs::path(path.string() + ".error"), text.data(), text.size());
}

template <class T>
Result<T> recorded_error(const fs::path& path) {
  Result<std::string> text = read_text(fs::path(path.string() + ".error"), 4096);
  if (!text) {
    Error e{concat({"not recorded: ", path.string()}), ENOENT};
    return fail(std::move(e));
  }
  const size_t newline = text->find('\n');
  Error e{newline == std::string::npos ? *text : text->substr(newline + 1), std::atoi(text->c_str())};
  return fail(std::move(e));
}

class RecordingHost final : public HostSource {
 public:
  RecordingHost(std::unique_ptr<HostSource> inner, fs::path root) : inner_(std::move(inner)), root_(std::move(root)) {}

  Result<std::string> read_file(const std::string& path) override {
    Result<fs::path> entry = file_entry(root_, path);
    if (!entry) return fail(std::move(entry.error()));
    return kept(*entry, inner_->read_file(path));
  }
  Result<std::vector<std::byte>> dump(Dump what) override {
    return kept(root_ / (std::string(to_string(what)) + ".nl"), inner_->dump(what));
  }
  Result<std::vector<std::byte>> route_get(const net::IpAddress& destination) override {
    return kept(route_entry(root_, destination), inner_->route_get(destination));
  }
  Result<std::string> firewall_ruleset() override {
    return kept(root_ / "nft-ruleset.json", inner_->firewall_ruleset());
  }
  Result<std::string> resolved_state(const std::vector<uint32_t>& links) override {
    return kept(root_ / "resolved.json", inner_->resolved_state(links));
  }
  Result<std::string> network_manager_dns() override {
    return kept(root_ / "network-manager.json", inner_->network_manager_dns());
  }

 private:
  // Writes what came (or the error) at `entry` and passes it on.
  template <class T>
  Result<T> kept(const fs::path& entry, Result<T> got) {
    keep(got ? write_bytes(entry, got->data(), got->size()) : record_error(entry, got.error()));
    return got;
  }
  // A recording that could not be written is said once on stderr; the inspection goes on.
  void keep(const Result<void>& written) {
    if (!written && !warned_) {
      std::fprintf(stderr, "dnsleak: %s (the recording is incomplete)\n", written.error().message.c_str());
      warned_ = true;
    }
  }
  std::unique_ptr<HostSource> inner_;
  fs::path root_;
  bool warned_ = false;
};

class ReplayHost final : public HostSource {
 public:
  explicit ReplayHost(fs::path root) : root_(std::move(root)) {}

  Result<std::string> read_file(const std::string& path) override {
    Result<fs::path> entry = file_entry(root_, path);
    if (!entry) return fail(std::move(entry.error()));
    if (!fs::exists(*entry)) return recorded_error<std::string>(*entry);
    return read_text(*entry, kMaxConfigFile + 1);
  }
  Result<std::vector<std::byte>> dump(Dump what) override {
    return bytes(root_ / (std::string(to_string(what)) + ".nl"));
  }
  Result<std::vector<std::byte>> route_get(const net::IpAddress& destination) override {
    return bytes(route_entry(root_, destination));
  }
  Result<std::string> firewall_ruleset() override {
    const fs::path entry = root_ / "nft-ruleset.json";
    if (!fs::exists(entry)) return recorded_error<std::string>(entry);
    return read_text(entry, 64U << 20U);
  }
  Result<std::string> resolved_state(const std::vector<uint32_t>&) override {
    const fs::path entry = root_ / "resolved.json";
    if (!fs::exists(entry)) return recorded_error<std::string>(entry);
    return read_text(entry, 16U << 20U);
  }
  Result<std::string> network_manager_dns() override {
    const fs::path entry = root_ / "network-manager.json";
    if (!fs::exists(entry)) return recorded_error<std::string>(entry);
    return read_text(entry, 16U << 20U);
  }

 private:
  static Result<std::vector<std::byte>> bytes(const fs::path& entry) {
    if (!fs::exists(entry)) return recorded_error<std::vector<std::byte>>(entry);
    Result<std::string> text = read_text(entry, 64U << 20U);
    if (!text) return fail(std::move(text.error()));
    std::vector<std::byte> out(text->size());
    std::memcpy(out.data(), text->data(), text->size());
    return out;
  }
  fs::path root_;
};

}  // namespace

std::unique_ptr<HostSource> live_host() { return std::make_unique<LiveHost>(); }

Result<std::unique_ptr<HostSource>> recording_host(std::unique_ptr<HostSource> inner, const std::string& directory) {
  std::error_code ec;
  fs::create_directories(directory, ec);
  if (ec || !fs::is_directory(directory)) {
    return fail(concat({"cannot make the recording directory ", directory, ": ", ec.message()}));
  }
  return std::make_unique<RecordingHost>(std::move(inner), directory);
}

Result<std::unique_ptr<HostSource>> replay_host(const std::string& directory) {
  if (!fs::is_directory(directory)) return fail(concat({"no recording at ", directory, " (not a directory)"}));
  return std::make_unique<ReplayHost>(directory);
}

}  // namespace dnsleak::host
