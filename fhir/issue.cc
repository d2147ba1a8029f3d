#include "fhir/issue.h"

#include "fhir/json.h"

namespace hoa::fhir {

std::string_view severityCode(Severity s) {
  switch (s) {
    case Severity::Fatal: return "fatal";
    case Severity::Error: return "error";
    case Severity::Warning: return "warning";
    case Severity::Information: return "information";
  }
  return "error";
}

std::string Issue::toString() const {
  std::string s;
  if (line) s += "line " + std::to_string(line) + ", column " + std::to_string(column) + ": ";
  if (!expression.empty()) s += expression + ": ";
  s += message;
  return s;
}

bool Issues::hasErrors() const {
  for (const Issue& i : items)
    if (i.severity == Severity::Fatal || i.severity == Severity::Error) return true;
  return false;
}

std::string Issues::toOperationOutcomeJson(bool pretty) const {
  const char* nl = pretty ? "\n" : "";
  auto ind = [&](int n) { return pretty ? std::string(static_cast<size_t>(n) * 2, ' ') : ""; };
  const char* sep = pretty ? ": " : ":";
  std::string out = "{";
  out += nl + ind(1) + "\"resourceType\"" + sep + "\"OperationOutcome\"," + nl;
  out += ind(1) + "\"issue\"" + sep + "[";
  auto emit = [&](const Issue& i, bool last) {
    out += nl + ind(2) + "{" + nl;
    out += ind(3) + "\"severity\"" + sep + "\"" + std::string(severityCode(i.severity)) + "\",";
    out += nl + ind(3) + "\"code\"" + sep;
    json::appendQuoted(out, i.code);
    out += "," + std::string(nl) + ind(3) + "\"details\"" + sep + "{";
    if (!i.detailCode.empty()) {
      out += std::string("\"coding\"") + sep + "[{\"system\"" + sep;
      json::appendQuoted(out, i.detailSystem);
      out += "," + std::string(pretty ? " " : "") + "\"code\"" + sep;
      json::appendQuoted(out, i.detailCode);
      out += "}]," + std::string(pretty ? " " : "");
    }
    out += std::string("\"text\"") + sep;
    json::appendQuoted(out, i.message);
    out += "}";
    if (i.line) {
      out += "," + std::string(nl) + ind(3) + "\"location\"" + sep + "[";
      json::appendQuoted(out, "line " + std::to_string(i.line) + ", col " +
                                  std::to_string(i.column));
      out += "]";
    }
    if (!i.expression.empty()) {
      out += "," + std::string(nl) + ind(3) + "\"expression\"" + sep + "[";
      json::appendQuoted(out, i.expression);
      out += "]";
    }
    out += nl + ind(2) + "}" + (last ? "" : ",");
  };
  if (items.empty()) {
    // An OperationOutcome needs at least one issue.
    emit(Issue{Severity::Information, "informational", "All OK", "", 0, 0}, true);
  }
  for (size_t k = 0; k < items.size(); ++k) emit(items[k], k + 1 == items.size());
  out += nl + ind(1) + "]" + nl + "}";
  return out;
}

}  // namespace hoa::fhir
