#include "verdict/verdict_json.h"

#include <boost/json.hpp>

namespace dnsleak::verdict {

boost::json::object verdict_json(const Verdict& verdict) {
  boost::json::array findings;
  for (const Finding& f : verdict.findings) {
    boost::json::object finding{{"severity", to_string(f.severity)},
                                {"code", f.code},
                                {"reason", f.reason},
                                {"certainty", to_string(f.certainty)}};
    if (!f.fix.empty()) finding["fix"] = f.fix;
    findings.push_back(std::move(finding));
  }
  return boost::json::object{{"outcome", to_string(verdict.outcome)},
                             {"certainty", to_string(verdict.certainty)},
                             {"findings", std::move(findings)}};
}

}  // namespace dnsleak::verdict
