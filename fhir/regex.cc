// Regular expressions for FHIRPath: parser (pattern -> tree), compiler (tree -> program
// for a Pike VM) and the VM. See regex.h for the syntax and the guarantees.
//
// The program is the classic Thompson construction: Char, Class and Any consume one code
// point, Split forks (its first target has priority), Jmp jumps, Save records a position
// in a capture slot, Assert checks a position, Match accepts. The VM advances all threads
// in lockstep, one code point at a time. A thread list holds at most one thread per
// instruction, in priority order; the first thread to reach an instruction in a step wins
// it, which is what makes the result agree with a backtracking engine's leftmost-first
// choice. Epsilon closures are walked with an explicit stack whose size is bounded by the
// program size (each instruction is visited at most once per step).
#include "fhir/regex.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace hoa::fhir::regex {
namespace detail {
namespace {

// Bytes of the text that are not part of well-formed UTF-8 decode to kInvalidBase + byte,
// above every code point (U+10FFFF), so only '.' and negated sets match them.
constexpr char32_t kInvalidBase = 0x110000;
constexpr char32_t kMaxUnit = kInvalidBase + 0xFF;

// Capture storage per thread list is (matching instructions) × (2 × (groups + 1)) slots;
// this bounds it (4 MiB per list), whatever the pattern.
constexpr size_t kMaxCaptureCells = size_t{1} << 19;

constexpr uint32_t kInfinite = std::numeric_limits<uint32_t>::max();
constexpr size_t kNoPos = std::numeric_limits<size_t>::max();

}  // namespace

enum class Op : uint8_t { Char, Class, Any, Match, Split, Jmp, Save, Assert };
enum class AssertKind : uint8_t { TextStart, TextEnd, WordBoundary, NotWordBoundary };

struct Inst {
  Op op;
  uint32_t x = 0;  // Char: code point; Class: class index; Split/Jmp: target; Save: slot; Assert: kind
  uint32_t y = 0;  // Split: the second (lower-priority) target
};

using Ranges = std::vector<std::pair<char32_t, char32_t>>;

struct CharClass {
  std::array<uint64_t, 2> ascii{};
  Ranges ranges;  // sorted, disjoint; includes the ASCII part too

  bool contains(char32_t c) const {
    if (c < 128) return (ascii[c >> 6] >> (c & 63)) & 1;
    auto it = std::upper_bound(ranges.begin(), ranges.end(), c,
                               [](char32_t v, const std::pair<char32_t, char32_t>& r) { return v < r.first; });
    return it != ranges.begin() && c <= std::prev(it)->second;
  }
};

struct Code {
  std::vector<Inst> insts;
  size_t states = 0;  // Char, Class, Any and Match instructions: the most threads a list holds
};

struct Program {
  Code captures;  // for replaceAll(): records group positions
  Code match;     // for search() and fullMatch(): the same without Save instructions
  std::vector<CharClass> classes;
  size_t groups = 0;
  std::vector<std::string> names;  // names[g - 1]: group g's name, "" if none (may stop short of groups)
  bool anchoredStart = false;
};

namespace {

bool isCont(unsigned char b) { return (b & 0xC0) == 0x80; }

// Decodes the code point at s[i] (i < s.size()); len receives its length in bytes. A byte
// that does not start well-formed UTF-8 (overlong forms and surrogates included) is one
// unit of its own: kInvalidBase + byte.
char32_t decodeAt(std::string_view s, size_t i, size_t& len) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + i;
  const size_t left = s.size() - i;
  const unsigned char b0 = p[0];
  if (b0 < 0x80) {
    len = 1;
    return b0;
  }
  if (b0 >= 0xC2 && b0 <= 0xDF && left >= 2 && isCont(p[1])) {
    len = 2;
    return (char32_t(b0 & 0x1F) << 6) | (p[1] & 0x3F);
  }
  if (b0 >= 0xE0 && b0 <= 0xEF && left >= 3 && isCont(p[1]) && isCont(p[2]) && !(b0 == 0xE0 && p[1] < 0xA0) &&
      !(b0 == 0xED && p[1] >= 0xA0)) {
    len = 3;
    return (char32_t(b0 & 0x0F) << 12) | (char32_t(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
  }
  if (b0 >= 0xF0 && b0 <= 0xF4 && left >= 4 && isCont(p[1]) && isCont(p[2]) && isCont(p[3]) &&
      !(b0 == 0xF0 && p[1] < 0x90) && !(b0 == 0xF4 && p[1] >= 0x90)) {
    len = 4;
    return (char32_t(b0 & 0x07) << 18) | (char32_t(p[1] & 0x3F) << 12) | (char32_t(p[2] & 0x3F) << 6) |
           (p[3] & 0x3F);
  }
  len = 1;
  return kInvalidBase + b0;
}

bool isWordByte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// ---------------------------------------------------------------------------------
// Character sets

void normalize(Ranges& r) {
  std::sort(r.begin(), r.end());
  Ranges out;
  for (const auto& x : r) {
    if (!out.empty() && x.first <= out.back().second + 1) {
      out.back().second = std::max(out.back().second, x.second);
    } else {
      out.push_back(x);
    }
  }
  r = std::move(out);
}

// The complement within [0, kMaxUnit]: negated sets match bytes that are not UTF-8 too.
Ranges complement(Ranges r) {
  normalize(r);
  Ranges out;
  char32_t next = 0;
  for (const auto& x : r) {
    if (x.first > next) out.emplace_back(next, x.first - 1);
    next = x.second + 1;
  }
  if (next <= kMaxUnit) out.emplace_back(next, kMaxUnit);
  return out;
}

Ranges digitSet() { return {{'0', '9'}}; }
Ranges wordSet() { return {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}}; }
// ASCII white space, as in PCRE and Java: [ \t\n\v\f\r]. (ECMAScript adds the Unicode
// spaces, but then the FHIR string pattern '[ \r\n\t\S]+' would reject a no-break space.)
Ranges spaceSet() { return {{0x09, 0x0D}, {0x20, 0x20}}; }

// ---------------------------------------------------------------------------------
// Parser: pattern -> tree

struct Node {
  enum class Kind : uint8_t { Empty, Char, Class, Any, Assert, Group, Concat, Alt, Repeat };
  Kind kind = Kind::Empty;
  uint32_t value = 0;  // Char: code point; Class: class index; Assert: AssertKind; Group: capture (0: none)
  uint32_t min = 0;    // Repeat
  uint32_t max = 0;    // Repeat; kInfinite for no upper bound
  bool greedy = true;  // Repeat
  size_t offset = 0;   // where the construct starts in the pattern
  std::vector<Node> kids;
};

// One escape sequence: a code point, a set (\d, \w, …) or an assertion (\b, \B).
struct Escape {
  enum class Kind : uint8_t { CodePoint, Set, Assert };
  Kind kind = Kind::CodePoint;
  char32_t cp = 0;
  Ranges set;
  AssertKind assertion = AssertKind::WordBoundary;
};

class Parser {
 public:
  Parser(std::string_view pattern, Program& prog) : p_(pattern), prog_(prog) {}

  bool parse(Node& root) {
    if (!parseAlternation(root)) return false;
    if (i_ < p_.size()) return fail("unmatched ')'", i_);  // parseAlternation stops only at ')'
    return true;
  }
  const std::string& error() const { return error_; }

 private:
  std::string_view p_;
  Program& prog_;
  size_t i_ = 0;
  std::string error_;

  bool fail(const std::string& message, size_t at) {
    error_ = message + " at offset " + std::to_string(at);
    return false;
  }
  bool atEnd() const { return i_ >= p_.size(); }
  char peek(size_t ahead = 0) const { return i_ + ahead < p_.size() ? p_[i_ + ahead] : '\0'; }

  // A code point of the pattern itself; ill-formed UTF-8 is an error.
  bool takeCodePoint(char32_t& cp) {
    size_t len = 0;
    cp = decodeAt(p_, i_, len);
    if (cp >= kInvalidBase) return fail("ill-formed UTF-8 in the pattern", i_);
    i_ += len;
    return true;
  }

  bool parseAlternation(Node& out) {
    out.kind = Node::Kind::Alt;
    out.offset = i_;
    for (;;) {
      Node branch;
      if (!parseConcat(branch)) return false;
      out.kids.push_back(std::move(branch));
      if (peek() != '|' || atEnd()) break;
      ++i_;
    }
    return true;
  }

  bool parseConcat(Node& out) {
    out.kind = Node::Kind::Concat;
    out.offset = i_;
    while (!atEnd() && peek() != '|' && peek() != ')') {
      Node atom;
      if (!parseAtom(atom)) return false;
      if (!parseQuantifiers(atom)) return false;
      out.kids.push_back(std::move(atom));
    }
    return true;
  }

  // '{' at i_: the quantifier {n}, {n,} or {n,m}. Returns false (and sets nothing) when the
  // text is not a quantifier, so '{' is a literal; errors (a count too large, '{,n}', a
  // reversed range) are reported through bad.
  bool braceQuantifier(size_t at, uint32_t& min, uint32_t& max, size_t& end, bool& bad) {
    bad = false;
    size_t j = at + 1;
    auto number = [&](uint32_t& v) {
      size_t start = j;
      uint64_t n = 0;
      while (j < p_.size() && p_[j] >= '0' && p_[j] <= '9') {
        n = std::min<uint64_t>(n * 10 + uint64_t(p_[j] - '0'), uint64_t(Regex::kMaxRepeat) + 1);
        ++j;
      }
      v = uint32_t(n);
      return j > start;
    };
    if (j < p_.size() && p_[j] == ',') {
      size_t k = j + 1;
      while (k < p_.size() && p_[k] >= '0' && p_[k] <= '9') ++k;
      if (k > j + 1 && k < p_.size() && p_[k] == '}') {
        bad = true;
        return fail("'{,n}' is not supported (engines read it differently): write '{0,n}'", at);
      }
      return false;
    }
    if (!number(min)) return false;
    if (j < p_.size() && p_[j] == '}') {
      max = min;
    } else if (j < p_.size() && p_[j] == ',') {
      ++j;
      if (j < p_.size() && p_[j] == '}') {
        max = kInfinite;
      } else if (!number(max) || j >= p_.size() || p_[j] != '}') {
        return false;
      }
    } else {
      return false;
    }
    end = j + 1;
    bad = true;
    if (min > Regex::kMaxRepeat || (max != kInfinite && max > Regex::kMaxRepeat))
      return fail("repetition count too large (limit " + std::to_string(Regex::kMaxRepeat) + ")", at);
    if (max < min) return fail("repetition range out of order: the minimum exceeds the maximum", at);
    bad = false;
    return true;
  }

  // Whether a quantifier starts at i_ (a '{' that is not one is a literal); Malformed when
  // a malformed one was reported.
  enum class Ahead : uint8_t { None, Quantifier, Malformed };
  Ahead quantifierAhead() {
    if (atEnd()) return Ahead::None;
    const char c = peek();
    if (c == '*' || c == '+' || c == '?') return Ahead::Quantifier;
    if (c != '{') return Ahead::None;
    uint32_t mn = 0, mx = 0;
    size_t end = 0;
    bool bad = false;
    if (braceQuantifier(i_, mn, mx, end, bad)) return Ahead::Quantifier;
    return bad ? Ahead::Malformed : Ahead::None;
  }

  bool parseQuantifiers(Node& atom) {
    Ahead ahead = quantifierAhead();
    if (ahead != Ahead::Quantifier) return ahead == Ahead::None;
    const size_t at = i_;
    if (atom.kind == Node::Kind::Assert)
      return fail("quantifier '" + std::string(1, p_[at]) + "' after an assertion: nothing to repeat", at);
    uint32_t mn = 0, mx = 0;
    char c = p_[i_];
    if (c == '*') {
      mn = 0, mx = kInfinite, ++i_;
    } else if (c == '+') {
      mn = 1, mx = kInfinite, ++i_;
    } else if (c == '?') {
      mn = 0, mx = 1, ++i_;
    } else {
      size_t end = 0;
      bool bad = false;
      braceQuantifier(i_, mn, mx, end, bad);
      i_ = end;
    }
    bool greedy = true;
    if (peek() == '?' && !atEnd()) {
      greedy = false;
      ++i_;
    } else if (peek() == '+' && !atEnd()) {
      return fail("possessive quantifiers are not supported", i_);
    }
    ahead = quantifierAhead();
    if (ahead == Ahead::Malformed) return false;
    if (ahead == Ahead::Quantifier) return fail("quantifier follows another quantifier", i_);
    Node rep;
    rep.kind = Node::Kind::Repeat;
    rep.min = mn;
    rep.max = mx;
    rep.greedy = greedy;
    rep.offset = at;
    rep.kids.push_back(std::move(atom));
    atom = std::move(rep);
    return true;
  }

  bool parseAtom(Node& out) {
    out.offset = i_;
    const char c = p_[i_];
    switch (c) {
      case '(':
        return parseGroup(out);
      case '[':
        return parseClass(out);
      case '.':
        ++i_;
        out.kind = Node::Kind::Any;
        return true;
      case '^':
      case '$':
        ++i_;
        out.kind = Node::Kind::Assert;
        out.value = uint32_t(c == '^' ? AssertKind::TextStart : AssertKind::TextEnd);
        return true;
      case '*':
      case '+':
      case '?':
        return fail(std::string("quantifier '") + c + "' has nothing to repeat", i_);
      case '{': {
        const Ahead ahead = quantifierAhead();
        if (ahead == Ahead::Malformed) return false;
        if (ahead == Ahead::Quantifier) return fail("quantifier '{' has nothing to repeat", i_);
        ++i_;
        out.kind = Node::Kind::Char;
        out.value = '{';
        return true;
      }
      case '\\': {
        Escape e;
        if (!parseEscape(e, false)) return false;
        if (e.kind == Escape::Kind::Assert) {
          out.kind = Node::Kind::Assert;
          out.value = uint32_t(e.assertion);
        } else if (e.kind == Escape::Kind::Set) {
          out.kind = Node::Kind::Class;
          out.value = addClass(std::move(e.set));
        } else {
          out.kind = Node::Kind::Char;
          out.value = e.cp;
        }
        return true;
      }
      default: {
        char32_t cp = 0;
        if (!takeCodePoint(cp)) return false;
        out.kind = Node::Kind::Char;
        out.value = cp;
        return true;
      }
    }
  }

  bool parseGroup(Node& out) {
    const size_t open = i_;
    if (depth_ + 1 > Regex::kMaxNesting)
      return fail("parentheses nested too deeply (limit " + std::to_string(Regex::kMaxNesting) + ")", open);
    ++i_;
    uint32_t capture = 0;
    if (peek() == '?' && !atEnd()) {
      const char k = peek(1);
      if (k == ':') {
        i_ += 2;
      } else if (k == '=' || k == '!') {
        return fail("lookahead assertions are not supported", open);
      } else if (k == '<' && (peek(2) == '=' || peek(2) == '!')) {
        return fail("lookbehind assertions are not supported", open);
      } else if (k == '<' || (k == 'P' && peek(2) == '<')) {
        i_ += k == '<' ? 2 : 3;
        std::string name;
        if (!parseGroupName(open, name)) return false;
        if (prog_.groups >= Regex::kMaxGroups)
          return fail("too many capturing groups (limit " + std::to_string(Regex::kMaxGroups) + ")", open);
        capture = uint32_t(++prog_.groups);
        prog_.names.resize(prog_.groups);
        prog_.names[capture - 1] = std::move(name);
      } else if (k == 'P' && peek(2) == '=') {
        return fail("back-references are not supported", open);
      } else if (k == 'P') {
        return fail("unknown group syntax '(?P' (named groups are written (?<name>...) or (?P<name>...))", open);
      } else if (k == '\'') {
        return fail("named groups written (?'name'...) are not supported: write (?<name>...)", open);
      } else if (k == '>') {
        return fail("atomic groups are not supported", open);
      } else if (k == '#') {
        return fail("comments are not supported", open);
      } else if (k == '-' || (k >= 'a' && k <= 'z') || (k >= 'A' && k <= 'Z')) {
        return fail("inline flags are not supported", open);
      } else {
        return fail("unknown group syntax '(?" + std::string(k ? 1 : 0, k) + "'", open);
      }
    } else {
      if (prog_.groups >= Regex::kMaxGroups)
        return fail("too many capturing groups (limit " + std::to_string(Regex::kMaxGroups) + ")", open);
      capture = uint32_t(++prog_.groups);
    }
    Node inner;
    ++depth_;
    bool ok = parseAlternation(inner);
    --depth_;
    if (!ok) return false;
    if (peek() != ')' || atEnd()) return fail("missing ')' for the '(' opened", open);
    ++i_;
    out.kind = Node::Kind::Group;
    out.value = capture;
    out.offset = open;
    out.kids.push_back(std::move(inner));
    return true;
  }

  // The name of a named group, at i_ (after '(?<' or '(?P<'), up to and past its '>'.
  bool parseGroupName(size_t open, std::string& name) {
    const size_t start = i_;
    while (!atEnd() && isWordByte(peek())) ++i_;
    if (atEnd() || peek() != '>') {
      if (atEnd()) return fail("missing '>' after the group name", start);
      return fail("invalid group name: a name is a letter or '_' followed by letters, digits or '_'", i_);
    }
    if (i_ == start) return fail("empty group name", start);
    if (p_[start] >= '0' && p_[start] <= '9')
      return fail("invalid group name: a name is a letter or '_' followed by letters, digits or '_'", start);
    name.assign(p_.substr(start, i_ - start));
    ++i_;
    if (std::find(prog_.names.begin(), prog_.names.end(), name) != prog_.names.end())
      return fail("duplicate group name '" + name + "'", open);
    return true;
  }

  static bool isHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
  static uint32_t hexValue(char c) {
    return c <= '9' ? uint32_t(c - '0') : c <= 'F' ? uint32_t(c - 'A' + 10) : uint32_t(c - 'a' + 10);
  }
  bool hexDigits(size_t at, size_t count, uint32_t& v) const {
    if (at + count > p_.size()) return false;
    v = 0;
    for (size_t k = 0; k < count; ++k) {
      if (!isHex(p_[at + k])) return false;
      v = v * 16 + hexValue(p_[at + k]);
    }
    return true;
  }

  // An escape at i_ (the backslash). inClass: inside [...], where \b is a backspace.
  bool parseEscape(Escape& e, bool inClass) {
    const size_t at = i_;
    if (i_ + 1 >= p_.size()) return fail("the pattern ends with a lone '\\'", at);
    const char c = p_[i_ + 1];
    i_ += 2;
    auto cp = [&](char32_t v) {
      e.kind = Escape::Kind::CodePoint;
      e.cp = v;
      return true;
    };
    auto set = [&](Ranges r, bool negate) {
      e.kind = Escape::Kind::Set;
      e.set = negate ? complement(std::move(r)) : std::move(r);
      return true;
    };
    switch (c) {
      case 'd': return set(digitSet(), false);
      case 'D': return set(digitSet(), true);
      case 'w': return set(wordSet(), false);
      case 'W': return set(wordSet(), true);
      case 's': return set(spaceSet(), false);
      case 'S': return set(spaceSet(), true);
      case 'n': return cp('\n');
      case 'r': return cp('\r');
      case 't': return cp('\t');
      case 'f': return cp('\f');
      case 'v': return cp('\v');
      case 'b':
        if (inClass) return cp('\b');
        e.kind = Escape::Kind::Assert;
        e.assertion = AssertKind::WordBoundary;
        return true;
      case 'B':
        if (inClass) break;
        e.kind = Escape::Kind::Assert;
        e.assertion = AssertKind::NotWordBoundary;
        return true;
      case '0':
        if (peek() >= '0' && peek() <= '9' && !atEnd()) return fail("octal escapes are not supported", at);
        return cp(0);
      case 'x': {
        uint32_t v = 0;
        if (!hexDigits(i_, 2, v)) return fail("'\\x' must be followed by two hexadecimal digits", at);
        i_ += 2;
        return cp(v);
      }
      case 'u': {
        uint32_t v = 0;
        if (!hexDigits(i_, 4, v)) return fail("'\\u' must be followed by four hexadecimal digits", at);
        i_ += 4;
        if (v >= 0xD800 && v <= 0xDBFF) {
          uint32_t lo = 0;
          if (peek() == '\\' && peek(1) == 'u' && hexDigits(i_ + 2, 4, lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
            i_ += 6;
            return cp(0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00));
          }
          return fail("lone surrogate in '\\u' escape (write a pair \\uD8xx\\uDCxx)", at);
        }
        if (v >= 0xDC00 && v <= 0xDFFF) return fail("lone surrogate in '\\u' escape (write a pair \\uD8xx\\uDCxx)", at);
        return cp(v);
      }
      case 'k':
        return fail("back-references are not supported", at);
      case 'p':
      case 'P':
        return fail("Unicode property escapes are not supported", at);
      default:
        break;
    }
    if (c >= '1' && c <= '9') {
      if (inClass) return fail("octal escapes are not supported", at);
      return fail("back-references are not supported", at);
    }
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
      return fail(std::string("unsupported escape '\\") + c + "'", at);
    // Any other character stands for itself.
    i_ = at + 1;
    char32_t v = 0;
    if (!takeCodePoint(v)) return false;
    return cp(v);
  }

  uint32_t addClass(Ranges r) {
    normalize(r);
    CharClass cls;
    for (const auto& [lo, hi] : r) {
      for (char32_t c = lo; c <= hi && c < 128; ++c) cls.ascii[c >> 6] |= uint64_t{1} << (c & 63);
    }
    cls.ranges = std::move(r);
    prog_.classes.push_back(std::move(cls));
    return uint32_t(prog_.classes.size() - 1);
  }

  // One member of a class: a code point or a set. i_ is inside the class, not at ']'.
  bool classAtom(Escape& e) {
    if (peek() == '\\') return parseEscape(e, true);
    if (peek() == '[' && peek(1) == ':') {
      size_t j = i_ + 2;
      while (j < p_.size() && ((p_[j] >= 'a' && p_[j] <= 'z') || (p_[j] >= 'A' && p_[j] <= 'Z'))) ++j;
      if (j > i_ + 2 && j + 1 < p_.size() && p_[j] == ':' && p_[j + 1] == ']')
        return fail("POSIX character classes are not supported", i_);
    }
    e.kind = Escape::Kind::CodePoint;
    return takeCodePoint(e.cp);
  }

  bool parseClass(Node& out) {
    const size_t open = i_;
    ++i_;
    bool negate = false;
    if (peek() == '^' && !atEnd()) {
      negate = true;
      ++i_;
    }
    Ranges r;
    bool first = true;
    for (;;) {
      if (atEnd()) return fail("missing ']' for the '[' opened", open);
      if (peek() == ']' && !first) {
        ++i_;
        break;
      }
      first = false;
      const size_t atomAt = i_;
      Escape lo;
      if (!classAtom(lo)) return false;
      if (lo.kind == Escape::Kind::Set) {
        r.insert(r.end(), lo.set.begin(), lo.set.end());
        continue;
      }
      // A range lo-hi, unless the '-' is last ('[a-]') or the other end is a set ('[a-\d]':
      // both literal, as in PCRE and ECMAScript).
      if (peek() == '-' && i_ + 1 < p_.size() && p_[i_ + 1] != ']') {
        ++i_;
        Escape hi;
        if (!classAtom(hi)) return false;
        if (hi.kind == Escape::Kind::Set) {
          r.emplace_back(lo.cp, lo.cp);
          r.emplace_back('-', '-');
          r.insert(r.end(), hi.set.begin(), hi.set.end());
          continue;
        }
        if (hi.cp < lo.cp) return fail("character class range out of order", atomAt);
        r.emplace_back(lo.cp, hi.cp);
        continue;
      }
      r.emplace_back(lo.cp, lo.cp);
    }
    if (negate) r = complement(std::move(r));
    out.kind = Node::Kind::Class;
    out.value = addClass(std::move(r));
    out.offset = open;
    return true;
  }

  size_t depth_ = 0;
};

// Whether every match must start at the start of the text ('^…').
bool anchoredAtStart(const Node& n) {
  switch (n.kind) {
    case Node::Kind::Assert:
      return n.value == uint32_t(AssertKind::TextStart);
    case Node::Kind::Group:
      return anchoredAtStart(n.kids[0]);
    case Node::Kind::Concat:
      for (const Node& k : n.kids) {
        if (anchoredAtStart(k)) return true;
        // Assertions other than '^' consume nothing and do not hide a later '^' (rare); stop
        // at anything else.
        if (k.kind != Node::Kind::Assert) return false;
      }
      return false;
    case Node::Kind::Alt:
      return !n.kids.empty() && std::all_of(n.kids.begin(), n.kids.end(), anchoredAtStart);
    case Node::Kind::Repeat:
      return n.min > 0 && anchoredAtStart(n.kids[0]);
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------------
// Compiler: tree -> program

class Compiler {
 public:
  // saves: emit the Save instructions that record groups (else leave them out).
  Compiler(Code& code, bool saves) : code_(code), saves_(saves) {}
  const std::string& error() const { return error_; }

  bool compile(const Node& root) {
    if (!save(0, 0) || !emit(root) || !save(1, 0) || !push({Op::Match, 0, 0}, 0)) return false;
    finish();
    return true;
  }

 private:
  Code& code_;
  bool saves_;
  std::string error_;

  uint32_t pc() const { return uint32_t(code_.insts.size()); }
  bool save(uint32_t slot, size_t offset) { return !saves_ || push({Op::Save, slot, 0}, offset); }
  bool push(Inst in, size_t offset) {
    if (code_.insts.size() >= Regex::kMaxInstructions) {
      error_ = "regular expression too large (more than " + std::to_string(Regex::kMaxInstructions) +
               " instructions once repetitions are expanded) at offset " + std::to_string(offset);
      return false;
    }
    code_.insts.push_back(in);
    return true;
  }

  // Jumps to jumps go straight to the end of the chain (fewer steps per character), and
  // the states are counted.
  void finish() {
    std::vector<Inst>& insts = code_.insts;
    auto final = [&](uint32_t t) {
      for (size_t hops = 0; insts[t].op == Op::Jmp && hops < insts.size(); ++hops) t = insts[t].x;
      return t;
    };
    for (Inst& in : insts) {
      if (in.op == Op::Jmp) in.x = final(in.x);
      if (in.op == Op::Split) in.x = final(in.x), in.y = final(in.y);
    }
    for (const Inst& in : insts) {
      if (in.op == Op::Char || in.op == Op::Class || in.op == Op::Any || in.op == Op::Match) ++code_.states;
    }
  }
  // A Split preferring `prefer` when greedy, `other` when lazy.
  void setSplit(uint32_t at, uint32_t prefer, uint32_t other, bool greedy) {
    code_.insts[at] = greedy ? Inst{Op::Split, prefer, other} : Inst{Op::Split, other, prefer};
  }

  bool emit(const Node& n) {
    switch (n.kind) {
      case Node::Kind::Empty:
        return true;
      case Node::Kind::Char:
        return push({Op::Char, n.value, 0}, n.offset);
      case Node::Kind::Class:
        return push({Op::Class, n.value, 0}, n.offset);
      case Node::Kind::Any:
        return push({Op::Any, 0, 0}, n.offset);
      case Node::Kind::Assert:
        return push({Op::Assert, n.value, 0}, n.offset);
      case Node::Kind::Group:
        if (n.value == 0) return emit(n.kids[0]);
        return save(2 * n.value, n.offset) && emit(n.kids[0]) && save(2 * n.value + 1, n.offset);
      case Node::Kind::Concat:
        for (const Node& k : n.kids) {
          if (!emit(k)) return false;
        }
        return true;
      case Node::Kind::Alt: {
        std::vector<uint32_t> jumps;
        for (size_t k = 0; k < n.kids.size(); ++k) {
          if (k + 1 == n.kids.size()) {
            if (!emit(n.kids[k])) return false;
            break;
          }
          const uint32_t split = pc();
          if (!push({Op::Split, split + 1, 0}, n.kids[k].offset) || !emit(n.kids[k])) return false;
          jumps.push_back(pc());
          if (!push({Op::Jmp, 0, 0}, n.kids[k].offset)) return false;
          code_.insts[split].y = pc();
        }
        for (uint32_t j : jumps) code_.insts[j].x = pc();
        return true;
      }
      case Node::Kind::Repeat:
        return emitRepeat(n);
    }
    return true;
  }

  bool emitRepeat(const Node& n) {
    const Node& kid = n.kids[0];
    if (n.max == kInfinite) {
      if (n.min == 0) {  // L: Split(body, out); body; Jmp L; out:
        const uint32_t loop = pc();
        if (!push({Op::Split, 0, 0}, n.offset) || !emit(kid) || !push({Op::Jmp, loop, 0}, n.offset)) return false;
        setSplit(loop, loop + 1, pc(), n.greedy);
        return true;
      }
      for (uint32_t k = 0; k + 1 < n.min; ++k) {
        if (!emit(kid)) return false;
      }
      const uint32_t body = pc();  // body; Split(body, out); out:
      if (!emit(kid)) return false;
      const uint32_t split = pc();
      if (!push({Op::Split, 0, 0}, n.offset)) return false;
      setSplit(split, body, split + 1, n.greedy);
      return true;
    }
    for (uint32_t k = 0; k < n.min; ++k) {
      if (!emit(kid)) return false;
    }
    // x{n,m}: m - n optional copies, each Split leaving for the end.
    std::vector<uint32_t> splits;
    for (uint32_t k = n.min; k < n.max; ++k) {
      splits.push_back(pc());
      if (!push({Op::Split, 0, 0}, n.offset) || !emit(kid)) return false;
    }
    const uint32_t out = pc();
    for (uint32_t s : splits) setSplit(s, s + 1, out, n.greedy);
    return true;
  }
};

// ---------------------------------------------------------------------------------
// The VM

class Matcher {
 public:
  enum class Result : uint8_t { NoMatch, Match, OverBudget };

  // nslots: capture slots tracked (0 for a yes/no answer, else 2 × (groups + 1)).
  Matcher(const Program& prog, const Code& code, std::string_view text, size_t nslots, uint64_t budget)
      : prog_(prog), insts_(code.insts), text_(text), nslots_(nslots), budget_(budget), mark_(insts_.size(), 0) {
    for (List* l : {&a_, &b_}) {
      l->pcs.resize(code.states);
      l->caps.resize(code.states * nslots);
    }
    // Each instruction visited pushes at most one frame, and is visited once per step.
    stack_.resize(insts_.size() + 1);
    work_.resize(nslots);
    init_.assign(nslots, kNoPos);
  }

  // Searches from `start` (absolute offsets: '^' is still the start of the whole text).
  // full: the match must end at the end of the text, and start at `start`. On a match with
  // capture slots, caps receives them (kNoPos for a group that took no part).
  Result run(size_t start, bool full, size_t* caps) {
    const size_t n = text_.size();
    const bool anchored = full || prog_.anchoredStart;
    List* clist = &a_;
    List* nlist = &b_;
    clist->size = 0;
    ++stamp_;
    bool matched = false;
    size_t pos = start;
    for (;;) {
      if (!matched && (pos == start || !anchored)) {
        if (add(*clist, 0, pos, init_.data(), full)) return Result::Match;
      }
      if (steps_ > budget_) return Result::OverBudget;
      if (clist->size == 0 && (matched || anchored || pos >= n)) break;
      const bool end = pos >= n;
      size_t len = 0;
      const char32_t c = end ? 0 : decodeAt(text_, pos, len);
      ++stamp_;
      nlist->size = 0;
      for (size_t t = 0; t < clist->size; ++t) {
        ++steps_;
        const uint32_t p = clist->pcs[t];
        const Inst& in = insts_[p];
        bool ok = false;
        switch (in.op) {
          case Op::Match:
            // Threads after this one have lower priority: drop them.
            matched = true;
            std::copy_n(clist->caps.data() + t * nslots_, nslots_, caps);
            t = clist->size;
            continue;
          case Op::Char:
            ok = !end && c == in.x;
            break;
          case Op::Any:
            ok = !end;
            break;
          case Op::Class:
            ok = !end && prog_.classes[in.x].contains(c);
            break;
          default:
            break;
        }
        if (ok && add(*nlist, p + 1, pos + len, clist->caps.data() + t * nslots_, full)) return Result::Match;
      }
      std::swap(clist, nlist);
      if (end) break;
      pos += len;
    }
    return matched ? Result::Match : Result::NoMatch;
  }

 private:
  struct List {
    std::vector<uint32_t> pcs;
    std::vector<size_t> caps;  // nslots per thread
    size_t size = 0;
  };
  struct Frame {
    uint32_t pc;
    uint32_t slot;  // kExplore: follow pc; else restore work_[slot] to value
    size_t value;
  };
  static constexpr uint32_t kExplore = std::numeric_limits<uint32_t>::max();

  const Program& prog_;
  const std::vector<Inst>& insts_;
  std::string_view text_;
  size_t nslots_;
  uint64_t budget_;
  uint64_t steps_ = 0;
  std::vector<uint64_t> mark_;  // == stamp_: already visited in this step
  uint64_t stamp_ = 0;
  std::vector<Frame> stack_;
  std::vector<size_t> work_;
  std::vector<size_t> init_;
  List a_, b_;

  bool holds(AssertKind k, size_t pos) const {
    switch (k) {
      case AssertKind::TextStart:
        return pos == 0;
      case AssertKind::TextEnd:
        return pos == text_.size();
      case AssertKind::WordBoundary:
      case AssertKind::NotWordBoundary: {
        // Word characters are ASCII, so the bytes either side decide.
        const bool before = pos > 0 && isWordByte(text_[pos - 1]);
        const bool after = pos < text_.size() && isWordByte(text_[pos]);
        return (before != after) == (k == AssertKind::WordBoundary);
      }
    }
    return false;
  }

  // Adds the thread at pc (and everything it reaches without consuming) to l, at text
  // position pos, with the capture slots `from`. Returns true when, with no slots
  // tracked, Match is reached: a yes/no answer needs nothing more.
  bool add(List& l, uint32_t pc0, size_t pos, const size_t* from, bool full) {
    if (const Op op = insts_[pc0].op; op == Op::Char || op == Op::Class || op == Op::Any) {
      // The common case: a consuming instruction, nothing to follow.
      if (mark_[pc0] == stamp_) return false;
      mark_[pc0] = stamp_;
      ++steps_;
      l.pcs[l.size] = pc0;
      if (nslots_) std::copy_n(from, nslots_, l.caps.data() + l.size * nslots_);
      ++l.size;
      return false;
    }
    if (nslots_) std::copy_n(from, nslots_, work_.begin());
    Frame* const stack = stack_.data();
    size_t sp = 0;
    stack[sp++] = {pc0, kExplore, 0};
    while (sp > 0) {
      const Frame f = stack[--sp];
      if (f.slot != kExplore) {
        work_[f.slot] = f.value;
        continue;
      }
      uint32_t p = f.pc;
      for (bool follow = true; follow;) {
        if (mark_[p] == stamp_) break;
        mark_[p] = stamp_;
        ++steps_;
        const Inst& in = insts_[p];
        switch (in.op) {
          case Op::Jmp:
            p = in.x;
            break;
          case Op::Split:
            stack[sp++] = {in.y, kExplore, 0};
            p = in.x;
            break;
          case Op::Save:
            if (in.x < nslots_) {
              stack[sp++] = {0, in.x, work_[in.x]};
              work_[in.x] = pos;
            }
            ++p;
            break;
          case Op::Assert:
            if (holds(AssertKind(in.x), pos)) {
              ++p;
            } else {
              follow = false;
            }
            break;
          case Op::Match:
            if (full && pos != text_.size()) {
              follow = false;
              break;
            }
            if (nslots_ == 0) return true;
            [[fallthrough]];
          default:
            l.pcs[l.size] = p;
            if (nslots_) std::copy_n(work_.begin(), nslots_, l.caps.data() + l.size * nslots_);
            ++l.size;
            follow = false;
            break;
        }
      }
    }
    return false;
  }
};

struct Piece {
  bool group;       // else literal
  size_t index;     // group number
  std::string_view text;
};

// The group that '${…}' names: a group number (decimal, at most the group count) or a
// group name; kNoPos when there is no such group.
size_t bracedGroup(std::string_view ref, const Program& prog) {
  if (ref.empty()) return kNoPos;
  if (std::all_of(ref.begin(), ref.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    size_t n = 0;
    for (char ch : ref) {
      n = n * 10 + size_t(ch - '0');
      if (n > prog.groups) return kNoPos;
    }
    return n;
  }
  const auto it = std::find(prog.names.begin(), prog.names.end(), ref);
  return it == prog.names.end() ? kNoPos : size_t(it - prog.names.begin()) + 1;
}

// $0 $& $n $nn ${n} ${name} $$; anything else after '$' is literal.
std::vector<Piece> parseReplacement(std::string_view r, const Program& prog) {
  const size_t groups = prog.groups;
  std::vector<Piece> out;
  size_t lit = 0;
  auto flush = [&](size_t upTo) {
    if (upTo > lit) out.push_back({false, 0, r.substr(lit, upTo - lit)});
  };
  auto digit = [&](size_t k) { return k < r.size() && r[k] >= '0' && r[k] <= '9'; };
  for (size_t i = 0; i < r.size();) {
    if (r[i] != '$' || i + 1 >= r.size()) {
      ++i;
      continue;
    }
    const char c = r[i + 1];
    if (c == '$') {
      flush(i + 1);  // keeps one '$'
      i += 2;
      lit = i;
      continue;
    }
    size_t group = kNoPos, len = 0;
    if (c == '&') {
      group = 0, len = 2;
    } else if (digit(i + 1)) {
      const size_t d1 = size_t(c - '0');
      if (digit(i + 2)) {
        const size_t d2 = d1 * 10 + size_t(r[i + 2] - '0');
        if (d2 >= 1 && d2 <= groups) group = d2, len = 3;
      }
      if (group == kNoPos && d1 <= groups) group = d1, len = 2;
    } else if (c == '{') {
      // Only names and digits may sit between the braces, so the scan stays linear.
      size_t close = i + 2;
      while (close < r.size() && isWordByte(r[close])) ++close;
      if (close < r.size() && r[close] == '}') {
        group = bracedGroup(r.substr(i + 2, close - (i + 2)), prog);
        len = close + 1 - i;
      }
    }
    if (group == kNoPos) {
      ++i;
      continue;
    }
    flush(i);
    out.push_back({true, group, {}});
    i += len;
    lit = i;
  }
  flush(r.size());
  return out;
}

}  // namespace
}  // namespace detail

using detail::Matcher;
using detail::Program;

std::optional<Regex> Regex::compile(std::string_view pattern, std::string& error) {
  if (pattern.size() > kMaxPatternBytes) {
    error = "regular expression too long: " + std::to_string(pattern.size()) + " bytes (limit " +
            std::to_string(kMaxPatternBytes) + ")";
    return std::nullopt;
  }
  auto prog = std::make_shared<Program>();
  detail::Node root;
  detail::Parser parser(pattern, *prog);
  if (!parser.parse(root)) {
    error = parser.error();
    return std::nullopt;
  }
  // The program with captures is the larger: when it fits, so does the other.
  detail::Compiler withSaves(prog->captures, true);
  if (!withSaves.compile(root)) {
    error = withSaves.error();
    return std::nullopt;
  }
  detail::Compiler(prog->match, false).compile(root);
  if (prog->captures.states * 2 * (prog->groups + 1) > detail::kMaxCaptureCells) {
    error = "regular expression too large (" + std::to_string(prog->groups) + " capturing groups in a program of " +
            std::to_string(prog->captures.insts.size()) + " instructions)";
    return std::nullopt;
  }
  prog->anchoredStart = detail::anchoredAtStart(root);
  return Regex(std::move(prog));
}

bool Regex::search(std::string_view text) const {
  Matcher m(*program_, program_->match, text, 0, std::numeric_limits<uint64_t>::max());
  return m.run(0, false, nullptr) == Matcher::Result::Match;
}

bool Regex::fullMatch(std::string_view text) const {
  Matcher m(*program_, program_->match, text, 0, std::numeric_limits<uint64_t>::max());
  return m.run(0, true, nullptr) == Matcher::Result::Match;
}

std::optional<std::string> Regex::replaceAll(std::string_view text, std::string_view replacement) const {
  const Program& prog = *program_;
  const std::vector<detail::Piece> pieces = detail::parseReplacement(replacement, prog);
  const size_t nslots = 2 * (prog.groups + 1);
  const uint64_t budget =
      std::max<uint64_t>(uint64_t{1} << 24, 8 * (uint64_t(text.size()) + 1) * uint64_t(prog.captures.insts.size()));
  Matcher m(prog, prog.captures, text, nslots, budget);
  std::vector<size_t> caps(nslots, detail::kNoPos);
  std::string out;
  size_t pos = 0;
  while (pos <= text.size()) {
    const Matcher::Result r = m.run(pos, false, caps.data());
    if (r == Matcher::Result::OverBudget) return std::nullopt;
    if (r == Matcher::Result::NoMatch) break;
    const size_t s = caps[0], e = caps[1];
    out.append(text.substr(pos, s - pos));
    for (const detail::Piece& piece : pieces) {
      if (!piece.group) {
        out.append(piece.text);
      } else if (caps[2 * piece.index] != detail::kNoPos && caps[2 * piece.index + 1] != detail::kNoPos) {
        out.append(text.substr(caps[2 * piece.index], caps[2 * piece.index + 1] - caps[2 * piece.index]));
      }
    }
    if (e > s) {
      pos = e;
    } else if (s < text.size()) {  // an empty match: copy one code point and go on after it
      size_t len = 0;
      detail::decodeAt(text, s, len);
      out.append(text.substr(s, len));
      pos = s + len;
    } else {
      pos = text.size() + 1;
    }
  }
  if (pos <= text.size()) out.append(text.substr(pos));
  return out;
}

size_t Regex::groupCount() const { return program_->groups; }
std::optional<size_t> Regex::groupNumber(std::string_view name) const {
  const std::vector<std::string>& names = program_->names;
  if (name.empty()) return std::nullopt;
  const auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) return std::nullopt;
  return size_t(it - names.begin()) + 1;
}
size_t Regex::programSize() const { return program_->captures.insts.size(); }

}  // namespace hoa::fhir::regex
