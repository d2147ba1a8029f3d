#include "fhir/json.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

namespace hoa::json {

const Value* Value::find(std::string_view key) const {
  if (type != Type::Object) return nullptr;
  for (uint32_t i = 0; i < size; ++i)
    if (members[i].key == key) return members[i].value;
  return nullptr;
}

std::string_view Value::getString(std::string_view key, std::string_view def) const {
  const Value* v = find(key);
  return v && v->type == Type::String ? v->text : def;
}

Document::Document() = default;
Document::Document(Document&&) noexcept = default;
Document& Document::operator=(Document&&) noexcept = default;
Document::~Document() = default;

namespace {

// Length of the UTF-8 sequence starting at p (which has at least `avail` bytes), or 0
// when it is not well-formed.
inline size_t utf8SequenceLength(const unsigned char* p, size_t avail) {
  unsigned char c = p[0];
  if (c < 0x80) return 1;
  if (c < 0xC2) return 0;
  if (c < 0xE0) return (avail >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
  if (c < 0xF0) {
    if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && p[1] < 0xA0) return 0;   // overlong
    if (c == 0xED && p[1] >= 0xA0) return 0;  // surrogates
    return 3;
  }
  if (c < 0xF5) {
    if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
      return 0;
    if (c == 0xF0 && p[1] < 0x90) return 0;   // overlong
    if (c == 0xF4 && p[1] >= 0x90) return 0;  // > U+10FFFF
    return 4;
  }
  return 0;
}

inline void appendUtf8Impl(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

inline int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

// Recursive-descent parser over a contiguous buffer. Lines are counted while skipping
// white space: JSON strings cannot hold a raw newline, so no other place can see one.
class Parser {
 public:
  Parser(Document& doc, const Limits& limits, Error& error)
      : doc_(doc),
        limits_(limits),
        error_(error),
        p_(doc.source_.data()),
        begin_(p_),
        end_(p_ + doc.source_.size()),
        lineStart_(p_) {}

  const Value* run() {
    if (doc_.source_.size() > limits_.maxInputBytes) {
      failLimit("the document is larger than the limit of " + std::to_string(limits_.maxInputBytes) +
           " bytes");
      return nullptr;
    }
    // A UTF-8 byte order mark is tolerated at the very start.
    if (end_ - p_ >= 3 && std::memcmp(p_, "\xEF\xBB\xBF", 3) == 0) {
      p_ += 3;
      lineStart_ = p_;
    }
    skipWs();
    if (p_ == end_) {
      fail("the document is empty");
      return nullptr;
    }
    Value* v = parseValue(0);
    if (!v) return nullptr;
    skipWs();
    if (p_ != end_) {
      fail("unexpected content after the end of the JSON value");
      return nullptr;
    }
    return v;
  }

 private:
  void fail(std::string msg) {
    if (error_) return;
    error_.message = std::move(msg);
    error_.line = line_;
    error_.column = static_cast<uint32_t>(p_ - lineStart_) + 1;
    // Each container's entries sit on the shared stacks below those of deeper ones.
    auto nextBase = [&](size_t i, bool isArray, size_t top) {
      for (size_t j = i + 1; j < frames_.size(); ++j)
        if (frames_[j].isArray == isArray) return frames_[j].base;
      return top;
    };
    for (size_t i = 0; i < frames_.size(); ++i) {
      const Frame& f = frames_[i];
      if (f.isArray) {
        error_.path += "[" + std::to_string(nextBase(i, true, itemStack_.size()) - f.base) + "]";
        continue;
      }
      if (f.key.empty()) break;
      if (!error_.path.empty()) error_.path += '.';
      error_.path += f.key;
    }
    if (!frames_.empty() && !frames_[0].isArray) {
      for (size_t i = 0, end = nextBase(0, false, memberStack_.size()); i < end; ++i) {
        if (memberStack_[i].key == "resourceType" && memberStack_[i].value->isString())
          error_.rootResourceType = std::string(memberStack_[i].value->text);
      }
    }
  }

  // Open containers, for the error path: arrays count their items on itemStack_,
  // objects remember the key whose value is being read.
  struct Frame {
    bool isArray;
    size_t base;
    std::string_view key;
  };
  std::vector<Frame> frames_;
  void failLimit(std::string msg) {
    if (!error_) error_.kind = Error::Kind::Limit;
    fail(std::move(msg));
  }
  void failAt(const char* at, std::string msg) {
    p_ = at;
    fail(std::move(msg));
  }

  void skipWs() {
    while (p_ < end_) {
      char c = *p_;
      if (c == ' ' || c == '\t' || c == '\r') {
        ++p_;
      } else if (c == '\n') {
        ++p_;
        ++line_;
        lineStart_ = p_;
      } else {
        break;
      }
    }
  }

  Value* newValue(Type t) {
    if (++valueCount_ > limits_.maxValues) {
      failLimit("the document has more than the limit of " + std::to_string(limits_.maxValues) +
           " values");
      return nullptr;
    }
    void* mem = doc_.arena_->allocate(sizeof(Value), alignof(Value));
    Value* v = new (mem) Value();
    v->type = t;
    v->line = line_;
    v->column = static_cast<uint32_t>(p_ - lineStart_) + 1;
    return v;
  }

  Value* parseValue(uint32_t depth) {
    if (p_ >= end_) {
      fail("unexpected end of input: a value was expected");
      return nullptr;
    }
    switch (*p_) {
      case '{':
        return parseObject(depth + 1);
      case '[':
        return parseArray(depth + 1);
      case '"': {
        Value* v = newValue(Type::String);
        if (!v || !parseString(v->text)) return nullptr;
        return v;
      }
      case 't':
        return parseLiteral("true", Type::Bool, true);
      case 'f':
        return parseLiteral("false", Type::Bool, false);
      case 'n':
        return parseLiteral("null", Type::Null, false);
      default:
        if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) return parseNumber();
        fail(std::string("unexpected character '") + printable(*p_) + "': a value was expected");
        return nullptr;
    }
  }

  static std::string printable(char c) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7F) return std::string(1, c);
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02X", u);
    return buf;
  }

  Value* parseLiteral(const char* word, Type t, bool b) {
    size_t n = std::strlen(word);
    if (static_cast<size_t>(end_ - p_) < n || std::memcmp(p_, word, n) != 0) {
      fail(std::string("invalid literal: '") + word + "' expected");
      return nullptr;
    }
    Value* v = newValue(t);
    if (!v) return nullptr;
    v->boolean = b;
    p_ += n;
    return v;
  }

  Value* parseNumber() {
    Value* v = newValue(Type::Number);
    if (!v) return nullptr;
    const char* start = p_;
    if (*p_ == '-') ++p_;
    if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) {
      fail("invalid number: a digit was expected");
      return nullptr;
    }
    if (*p_ == '0') {
      ++p_;
      if (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
        fail("invalid number: leading zeros are not allowed");
        return nullptr;
      }
    } else {
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ < end_ && *p_ == '.') {
      ++p_;
      if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) {
        fail("invalid number: a digit was expected after the decimal point");
        return nullptr;
      }
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) {
        fail("invalid number: a digit was expected in the exponent");
        return nullptr;
      }
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    v->text = std::string_view(start, p_ - start);
    return v;
  }

  // Parses a string literal at p_ ('"'). Without escapes the result points into the
  // source; with escapes it is unescaped into the arena.
  bool parseString(std::string_view& out) {
    const char* start = ++p_;
    const unsigned char* q = reinterpret_cast<const unsigned char*>(p_);
    const unsigned char* e = reinterpret_cast<const unsigned char*>(end_);
    // Fast path: plain ASCII without escapes.
    while (q < e) {
      unsigned char c = *q;
      if (c == '"') {
        size_t len = reinterpret_cast<const char*>(q) - start;
        if (len > limits_.maxStringBytes) return stringTooLong(start);
        out = std::string_view(start, len);
        p_ = reinterpret_cast<const char*>(q) + 1;
        return true;
      }
      if (c == '\\' || c < 0x20) break;
      if (c >= 0x80) {
        size_t n = utf8SequenceLength(q, e - q);
        if (n == 0) {
          failAt(reinterpret_cast<const char*>(q), "invalid UTF-8 in a string");
          return false;
        }
        q += n;
        continue;
      }
      ++q;
    }
    // Slow path: unescape into a buffer.
    scratch_.assign(start, reinterpret_cast<const char*>(q));
    while (q < e) {
      // Copy a run of plain ASCII at once.
      const unsigned char* run = q;
      while (q < e && *q >= 0x20 && *q < 0x80 && *q != '"' && *q != '\\') ++q;
      if (q != run) scratch_.append(reinterpret_cast<const char*>(run), q - run);
      if (q >= e) break;
      unsigned char c = *q;
      if (c == '"') {
        if (scratch_.size() > limits_.maxStringBytes) return stringTooLong(start);
        char* mem = static_cast<char*>(doc_.arena_->allocate(scratch_.size() + 1, 1));
        std::memcpy(mem, scratch_.data(), scratch_.size());
        out = std::string_view(mem, scratch_.size());
        p_ = reinterpret_cast<const char*>(q) + 1;
        return true;
      }
      if (c < 0x20) {
        failAt(reinterpret_cast<const char*>(q),
               "control character in a string (it must be escaped)");
        return false;
      }
      if (c == '\\') {
        if (q + 1 >= e) break;
        const char* escAt = reinterpret_cast<const char*>(q);
        char x = static_cast<char>(q[1]);
        q += 2;
        switch (x) {
          case '"': scratch_ += '"'; break;
          case '\\': scratch_ += '\\'; break;
          case '/': scratch_ += '/'; break;
          case 'b': scratch_ += '\b'; break;
          case 'f': scratch_ += '\f'; break;
          case 'n': scratch_ += '\n'; break;
          case 'r': scratch_ += '\r'; break;
          case 't': scratch_ += '\t'; break;
          case 'u': {
            uint32_t cp;
            if (!readHex4(q, e, cp)) {
              failAt(escAt, "invalid \\u escape in a string");
              return false;
            }
            q += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              uint32_t lo;
              if (e - q >= 6 && q[0] == '\\' && q[1] == 'u' && readHex4(q + 2, e, lo) &&
                  lo >= 0xDC00 && lo <= 0xDFFF) {
                q += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
              } else {
                failAt(escAt, "unpaired UTF-16 surrogate in a \\u escape");
                return false;
              }
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
              failAt(escAt, "unpaired UTF-16 surrogate in a \\u escape");
              return false;
            }
            appendUtf8Impl(scratch_, cp);
            break;
          }
          default:
            failAt(escAt, std::string("invalid escape '\\") + printable(x) + "' in a string");
            return false;
        }
        if (scratch_.size() > limits_.maxStringBytes) return stringTooLong(start);
        continue;
      }
      if (c >= 0x80) {
        size_t n = utf8SequenceLength(q, e - q);
        if (n == 0) {
          failAt(reinterpret_cast<const char*>(q), "invalid UTF-8 in a string");
          return false;
        }
        scratch_.append(reinterpret_cast<const char*>(q), n);
        q += n;
        continue;
      }
    }
    failAt(start - 1, "unterminated string");
    return false;
  }

  bool stringTooLong(const char* start) {
    error_.kind = Error::Kind::StringTooLong;
    failAt(start - 1, "string longer than the limit of " + std::to_string(limits_.maxStringBytes) +
                          " bytes");
    return false;
  }

  static bool readHex4(const unsigned char* q, const unsigned char* e, uint32_t& cp) {
    if (e - q < 4) return false;
    cp = 0;
    for (int i = 0; i < 4; ++i) {
      int h = hexValue(static_cast<char>(q[i]));
      if (h < 0) return false;
      cp = (cp << 4) | static_cast<uint32_t>(h);
    }
    return true;
  }

  Value* parseArray(uint32_t depth) {
    if (depth > limits_.maxDepth) {
      failLimit("nesting deeper than the limit of " + std::to_string(limits_.maxDepth));
      return nullptr;
    }
    Value* v = newValue(Type::Array);
    if (!v) return nullptr;
    ++p_;
    size_t base = itemStack_.size();
    frames_.push_back(Frame{true, base, {}});
    skipWs();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      frames_.pop_back();
      return v;
    }
    for (;;) {
      skipWs();
      Value* item = parseValue(depth);
      if (!item) return nullptr;
      itemStack_.push_back(item);
      skipWs();
      if (p_ >= end_) {
        fail("unexpected end of input: ',' or ']' expected");
        return nullptr;
      }
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == ']') {
        ++p_;
        break;
      }
      fail(std::string("unexpected character '") + printable(*p_) + "': ',' or ']' expected");
      return nullptr;
    }
    size_t n = itemStack_.size() - base;
    auto** items = static_cast<const Value**>(
        doc_.arena_->allocate(n * sizeof(Value*), alignof(Value*)));
    std::copy(itemStack_.begin() + base, itemStack_.end(), items);
    itemStack_.resize(base);
    frames_.pop_back();
    v->items = items;
    v->size = static_cast<uint32_t>(n);
    return v;
  }

  Value* parseObject(uint32_t depth) {
    if (depth > limits_.maxDepth) {
      failLimit("nesting deeper than the limit of " + std::to_string(limits_.maxDepth));
      return nullptr;
    }
    Value* v = newValue(Type::Object);
    if (!v) return nullptr;
    ++p_;
    size_t base = memberStack_.size();
    frames_.push_back(Frame{false, base, {}});
    skipWs();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      frames_.pop_back();
      v->members = nullptr;
      return v;
    }
    for (;;) {
      skipWs();
      if (p_ >= end_ || *p_ != '"') {
        if (p_ >= end_)
          fail("unexpected end of input: a property name was expected");
        else
          fail(std::string("unexpected character '") + printable(*p_) +
               "': a property name in double quotes was expected");
        return nullptr;
      }
      const char* keyAt = p_;
      uint32_t keyLine = line_;
      const char* keyLineStart = lineStart_;
      std::string_view key;
      if (!parseString(key)) return nullptr;
      frames_.back().key = key;
      // Duplicate keys: FHIR objects are small, so a scan beats hashing.
      for (size_t i = base; i < memberStack_.size(); ++i) {
        if (memberStack_[i].key == key) {
          p_ = keyAt;
          line_ = keyLine;
          lineStart_ = keyLineStart;
          fail("duplicate property \"" + std::string(key) + "\"");
          return nullptr;
        }
      }
      skipWs();
      if (p_ >= end_ || *p_ != ':') {
        fail("':' expected after a property name");
        return nullptr;
      }
      ++p_;
      skipWs();
      Value* item = parseValue(depth);
      if (!item) return nullptr;
      memberStack_.push_back(Member{key, item});
      frames_.back().key = {};  // between members the error is the object's
      skipWs();
      if (p_ >= end_) {
        fail("unexpected end of input: ',' or '}' expected");
        return nullptr;
      }
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == '}') {
        ++p_;
        break;
      }
      fail(std::string("unexpected character '") + printable(*p_) + "': ',' or '}' expected");
      return nullptr;
    }
    size_t n = memberStack_.size() - base;
    auto* members =
        static_cast<Member*>(doc_.arena_->allocate(n * sizeof(Member), alignof(Member)));
    std::copy(memberStack_.begin() + base, memberStack_.end(), members);
    memberStack_.resize(base);
    frames_.pop_back();
    v->members = members;
    v->size = static_cast<uint32_t>(n);
    return v;
  }

  Document& doc_;
  const Limits& limits_;
  Error& error_;
  const char* p_;
  const char* begin_;
  const char* end_;
  const char* lineStart_;
  uint32_t line_ = 1;
  size_t valueCount_ = 0;
  std::string scratch_;
  std::vector<const Value*> itemStack_;
  std::vector<Member> memberStack_;
};

Document Document::parse(std::string source, Error& error, const Limits& limits) {
  Document doc;
  doc.source_ = std::move(source);
  doc.arena_ = std::make_unique<std::pmr::monotonic_buffer_resource>(
      std::clamp<size_t>(doc.source_.size(), 4096, 1u << 20));
  Parser parser(doc, limits, error);
  doc.root_ = parser.run();
  if (!doc.root_ && !error) error.message = "invalid JSON";
  if (error) doc.root_ = nullptr;
  return doc;
}

void appendQuoted(std::string& out, std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  out += '"';
  size_t runStart = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + runStart, i - runStart);
    runStart = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
  }
  out.append(s.data() + runStart, s.size() - runStart);
  out += '"';
}

bool isNumberLiteral(std::string_view s) {
  size_t i = 0, n = s.size();
  if (i < n && s[i] == '-') ++i;
  if (i >= n) return false;
  if (s[i] == '0') {
    ++i;
  } else if (s[i] >= '1' && s[i] <= '9') {
    while (i < n && s[i] >= '0' && s[i] <= '9') ++i;
  } else {
    return false;
  }
  if (i < n && s[i] == '.') {
    ++i;
    if (i >= n || !(s[i] >= '0' && s[i] <= '9')) return false;
    while (i < n && s[i] >= '0' && s[i] <= '9') ++i;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    if (i >= n || !(s[i] >= '0' && s[i] <= '9')) return false;
    while (i < n && s[i] >= '0' && s[i] <= '9') ++i;
  }
  return i == n;
}

bool isValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* e = p + s.size();
  while (p < e) {
    if (*p < 0x80) {
      ++p;
      continue;
    }
    size_t n = utf8SequenceLength(p, e - p);
    if (n == 0) return false;
    p += n;
  }
  return true;
}

void appendUtf8(std::string& out, uint32_t codePoint) { appendUtf8Impl(out, codePoint); }

}  // namespace hoa::json
