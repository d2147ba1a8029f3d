#include "mappings/referral.h"

#include "fhir/json.h"

namespace hoa::clinic {
namespace {

// A small ordered JSON writer: members in the order written, two-space indentation when
// pretty. Empty strings are written as null (the model has no meaningful empty text).
class Writer {
 public:
  explicit Writer(bool pretty) : pretty_(pretty) {}

  void beginObject() { open('{'); }
  void endObject() { close('}'); }
  void beginArray(std::string_view key) {
    this->key(key);
    open('[');
  }
  void endArray() { close(']'); }
  void beginObject(std::string_view key) {
    this->key(key);
    open('{');
  }

  void string(std::string_view key, std::string_view v) {
    this->key(key);
    rawOrNull(v, true);
  }
  void string(std::string_view v) {
    item();
    rawOrNull(v, true);
  }
  void number(std::string_view key, const std::optional<std::string>& v) {
    this->key(key);
    if (v) out_ += *v;
    else out_ += "null";
  }
  void date(std::string_view key, const std::optional<Date>& d) {
    this->key(key);
    if (d) json::appendQuoted(out_, d->toString());
    else out_ += "null";
  }
  void boolean(std::string_view key, bool b) {
    this->key(key);
    out_ += b ? "true" : "false";
  }

  std::string take() {
    if (pretty_) out_ += '\n';
    return std::move(out_);
  }

 private:
  void rawOrNull(std::string_view v, bool quoted) {
    if (v.empty()) out_ += "null";
    else if (quoted) json::appendQuoted(out_, v);
    else out_ += v;
  }
  void newline() {
    if (!pretty_) return;
    out_ += '\n';
    out_.append(2 * depth_, ' ');
  }
  void item() {
    if (!first_) out_ += ',';
    first_ = false;
    newline();
  }
  void key(std::string_view k) {
    item();
    json::appendQuoted(out_, k);
    out_ += pretty_ ? ": " : ":";
  }
  void open(char c) {
    if (depth_ == 0 && out_.empty()) {
      // the document's root
    } else if (out_.back() != ' ' && out_.back() != ':') {
      item();
    }
    out_ += c;
    ++depth_;
    first_ = true;
  }
  void close(char c) {
    --depth_;
    if (!first_) newline();
    out_ += c;
    first_ = false;
  }

  bool pretty_;
  std::string out_;
  size_t depth_ = 0;
  bool first_ = true;
};

}  // namespace

std::string toJson(const Referral& r, bool pretty) {
  Writer w(pretty);
  w.beginObject();
  w.string("id", r.id);
  w.beginObject("sourceIdentifier");
  w.string("system", r.sourceIdentifier.system);
  w.string("value", r.sourceIdentifier.value);
  w.endObject();
  w.string("receivedAt", r.receivedAt);
  w.date("assessmentDeadline", r.assessmentDeadline);
  w.string("status", r.status);
  w.string("priority", r.priority);
  w.string("authoredOn", r.authoredOn);
  w.beginObject("patient");
  w.string("idType", r.patient.idType);
  w.string("nationalId", r.patient.nationalId);
  w.string("name", r.patient.name);
  w.date("birthDate", r.patient.birthDate);
  w.string("gender", r.patient.gender);
  w.endObject();
  w.beginObject("referrer");
  w.string("hpr", r.referrer.hpr);
  w.string("name", r.referrer.name);
  w.string("herId", r.referrer.herId);
  w.string("orgNumber", r.referrer.orgNumber);
  w.string("organizationName", r.referrer.organizationName);
  w.endObject();
  w.beginObject("problem");
  w.string("category", r.problem.category);
  w.beginArray("codes");
  for (const CodedValue& c : r.problem.codes) {
    w.beginObject();
    w.string("system", c.system);
    w.string("code", c.code);
    w.string("display", c.display);
    w.endObject();
  }
  w.endArray();
  w.string("description", r.problem.description);
  w.endObject();
  w.beginObject("work");
  w.string("attachment", r.work.attachment);
  w.number("sickLeavePercent", r.work.sickLeavePercent);
  w.date("sickLeaveSince", r.work.sickLeaveSince);
  w.string("employer", r.work.employer);
  w.string("occupation", r.work.occupation);
  w.endObject();
  w.beginArray("offerings");
  for (const std::string& o : r.offerings) w.string(o);
  w.endArray();
  w.boolean("needsCoordinatedServices", r.needsCoordinatedServices);
  w.beginArray("warnings");
  for (const std::string& o : r.warnings) w.string(o);
  w.endArray();
  w.endObject();
  return w.take();
}

}  // namespace hoa::clinic
