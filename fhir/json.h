#pragma once
// A strict JSON reader that keeps what FHIR needs and most JSON libraries throw away:
// the exact text of every number ("1.50" stays "1.50"), the line and column of every
// value, and duplicate keys as an error. It is the first stage of the FHIR JSON parser
// and also reads the definitions of the FHIR packages.
//
// Thread-safety: a Document is immutable after parse() and may be read from any thread.
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <string>
#include <string_view>

namespace hoa::json {

enum class Type : uint8_t { Null, Bool, Number, String, Array, Object };

struct Value;

struct Member {
  std::string_view key;
  const Value* value;
};

// One JSON value. Strings are unescaped; numbers are their source text.
struct Value {
  Type type = Type::Null;
  bool boolean = false;
  uint32_t line = 0;    // 1-based line of the value's first character
  uint32_t column = 0;  // 1-based column (in bytes) of the value's first character
  uint32_t size = 0;    // number of items or members
  std::string_view text;  // String: unescaped text; Number: the literal text
  union {
    const Value* const* items;  // Array
    const Member* members;      // Object, in source order
  };

  Value() : items(nullptr) {}
  bool isNull() const { return type == Type::Null; }
  bool isObject() const { return type == Type::Object; }
  bool isArray() const { return type == Type::Array; }
  bool isString() const { return type == Type::String; }
  // The member with this key, or nullptr (objects only; linear scan).
  const Value* find(std::string_view key) const;
  // The string value of member `key`, or `def` when absent or not a string.
  std::string_view getString(std::string_view key, std::string_view def = {}) const;
  const Value* const* begin() const { return type == Type::Array ? items : nullptr; }
  const Value* const* end() const { return type == Type::Array ? items + size : nullptr; }
};

struct Limits {
  size_t maxInputBytes = 256u << 20;  // whole document
  uint32_t maxDepth = 128;            // nesting of arrays and objects
  size_t maxStringBytes = 8u << 20;   // one string, after unescaping
  size_t maxValues = 4u << 20;        // values in the document
};

struct Error {
  enum class Kind : uint8_t { Syntax, Limit, StringTooLong };
  Kind kind = Kind::Syntax;
  std::string message;  // empty when there is no error
  uint32_t line = 0;
  uint32_t column = 0;
  // Where in the structure the error is: "name[0].given[1]" (keys and array indices
  // from the root), and the root object's "resourceType" when it was read before the
  // error (so FHIR callers can say Patient.name[0].given[1]).
  std::string path;
  std::string rootResourceType;
  explicit operator bool() const { return !message.empty(); }
};

// A parsed document. It owns the source text (strings without escapes point into it)
// and the arena that holds the values.
class Document {
 public:
  Document();
  Document(Document&&) noexcept;
  Document& operator=(Document&&) noexcept;
  ~Document();

  const Value* root() const { return root_; }
  std::string_view source() const { return source_; }

  // Parses `source` (taken over). On failure root() is null and the error says where.
  static Document parse(std::string source, Error& error, const Limits& limits = {});

 private:
  friend class Parser;
  std::string source_;
  std::unique_ptr<std::pmr::monotonic_buffer_resource> arena_;
  const Value* root_ = nullptr;
};

// Appends `s` to `out` as a JSON string literal (with quotes), escaping per RFC 8259.
void appendQuoted(std::string& out, std::string_view s);

// Checks that `s` is a JSON number literal (RFC 8259 grammar).
bool isNumberLiteral(std::string_view s);

// Returns true when `s` is well-formed UTF-8 (no overlong forms, no surrogates).
bool isValidUtf8(std::string_view s);
// Appends the UTF-8 encoding of a code point (U+0000..U+10FFFF).
void appendUtf8(std::string& out, uint32_t codePoint);

}  // namespace hoa::json
