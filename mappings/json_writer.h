#pragma once
// Internal to mappings/: a small ordered JSON writer for the documents this layer
// produces (the internal model, Task, QuestionnaireResponse): members in the order
// written, two-space indentation when pretty, empty strings written as null.
#include <optional>
#include <string>
#include <string_view>

#include "fhir/json.h"
#include "mappings/working_days.h"

namespace hoa::clinic::detail {

class JsonWriter {
 public:
  explicit JsonWriter(bool pretty = false) : pretty_(pretty) {}

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
  // A member whose value is already JSON text.
  void raw(std::string_view key, std::string_view json) {
    this->key(key);
    out_ += json;
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

}  // namespace hoa::clinic::detail
