#include "verdict/verdict_json.h"

#include <boost/json.hpp>

namespace dnsleak::verdict {

boost::json::object verdict_json(const Verdict& verdict) {
  boost::json::array findings;
  for (const Finding& f : verdict.findings) {
    findings.push_back(
        boost::json::object{{"severity", to_string(f.severity)}, {"code", f.code}, {"reason", f.reason}});
  }
  return boost::json::object{{"outcome", to_string(verdict.outcome)}, {"findings", std::move(findings)}};
}

}  // namespace dnsleak::verdict
