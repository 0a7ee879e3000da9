// The responder's answers to every input of the seed corpus, in the three fuzz variants, against a
// snapshot (tests/fuzz/corpus_answers.txt): a change to any answer, byte for byte, or to its
// outcome or observation shows here. An intended change is written anew with --write.
//   corpus_answers CORPUS_DIR SNAPSHOT           compare; exit 1 and the first differences
//   corpus_answers --write CORPUS_DIR SNAPSHOT   rewrite the snapshot
#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "responder_fixture.h"

namespace {

using namespace dnsleak;

std::string hex(std::span<const std::byte> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const std::byte b : bytes) {
    out += kDigits[static_cast<unsigned>(b) >> 4];
    out += kDigits[static_cast<unsigned>(b) & 0xF];
  }
  return out;
}

std::vector<std::string> answers(const std::filesystem::path& corpus) {
  const fuzzing::ResponderFixture fixture;
  const auth::Responder responder(fixture.zone, fixture.tokens, &fixture.cookies);
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(corpus)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> lines;
  std::array<std::byte, 65535> out{};
  for (const std::filesystem::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    const std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::span<const std::byte> query(reinterpret_cast<const std::byte*>(raw.data()), raw.size());
    for (int variant = 0; variant < fuzzing::kVariants; ++variant) {
      store::ResolverObservation observation;
      const auth::ResponseResult r = responder.respond(query, fuzzing::variant_context(variant), out, observation);
      std::ostringstream line;
      line << std::filesystem::relative(file, corpus).string() << ' ' << variant << ' ' << to_string(r.outcome) << ' '
           << (r.observed ? std::string(store::to_string(observation.sub_zone)) + "/" +
                                store::to_string(observation.answer) + "/" + observation.qname.to_text()
                          : "-")
           << ' ' << hex({out.data(), r.length});
      lines.push_back(line.str());
    }
  }
  return lines;
}

}  // namespace

int main(int argc, char** argv) {
  const bool write = argc == 4 && std::string(argv[1]) == "--write";
  if (argc != 3 && !write) {
    std::fprintf(stderr, "usage: %s [--write] CORPUS_DIR SNAPSHOT\n", argv[0]);
    return 2;
  }
  const std::vector<std::string> now = answers(argv[write ? 2 : 1]);
  const std::string snapshot = argv[write ? 3 : 2];
  if (write) {
    std::ofstream out(snapshot);
    for (const std::string& line : now) out << line << '\n';
    std::printf("wrote %zu answers to %s\n", now.size(), snapshot.c_str());
    return out ? 0 : 1;
  }
  std::ifstream in(snapshot);
  std::vector<std::string> before;
  for (std::string line; std::getline(in, line);) before.push_back(line);
  if (before.empty()) {
    std::fprintf(stderr, "%s: no snapshot (write one with --write)\n", snapshot.c_str());
    return 1;
  }
  size_t differences = 0;
  for (size_t i = 0; i < std::max(now.size(), before.size()); ++i) {
    const std::string a = i < before.size() ? before[i] : "(none)";
    const std::string b = i < now.size() ? now[i] : "(none)";
    if (a == b) continue;
    if (++differences <= 5) std::printf("was: %s\nnow: %s\n", a.c_str(), b.c_str());
  }
  std::printf("%zu answers, %zu differ from the snapshot\n", now.size(), differences);
  return differences == 0 ? 0 : 1;
}
