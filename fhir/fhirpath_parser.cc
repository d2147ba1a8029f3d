// FHIRPath lexer, parser and compile-time checks.
#include <cctype>
#include <cstring>

#include "fhir/fhirpath_internal.h"
#include "fhir/json.h"

namespace hoa::fhir::fhirpath {
namespace detail {
namespace {

struct ParseError {
  std::string message;
  uint32_t pos;
};

enum class Tok : uint8_t {
  End, Ident, DelimIdent, String, Number, DateTime, Time, Special, Variable, Op,
};

struct Token {
  Tok kind = Tok::End;
  uint32_t pos = 0;
  std::string text;  // identifier name, unescaped string, number text, literal text, op
};

bool isIdentStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isIdentChar(char c) { return isIdentStart(c) || isDigit(c); }

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  std::vector<Token> run() {
    std::vector<Token> out;
    for (;;) {
      skipSpace();
      Token t;
      t.pos = static_cast<uint32_t>(i_);
      if (i_ >= s_.size()) {
        out.push_back(t);
        return out;
      }
      char c = s_[i_];
      if (isIdentStart(c)) {
        size_t b = i_;
        while (i_ < s_.size() && isIdentChar(s_[i_])) ++i_;
        t.kind = Tok::Ident;
        t.text = std::string(s_.substr(b, i_ - b));
      } else if (c == '`') {
        t.kind = Tok::DelimIdent;
        t.text = quoted('`');
      } else if (c == '\'') {
        t.kind = Tok::String;
        t.text = quoted('\'');
      } else if (isDigit(c)) {
        size_t b = i_;
        while (i_ < s_.size() && isDigit(s_[i_])) ++i_;
        if (i_ + 1 < s_.size() && s_[i_] == '.' && isDigit(s_[i_ + 1])) {
          ++i_;
          while (i_ < s_.size() && isDigit(s_[i_])) ++i_;
        }
        t.kind = Tok::Number;
        t.text = std::string(s_.substr(b, i_ - b));
      } else if (c == '@') {
        ++i_;
        dateTime(t);
      } else if (c == '$') {
        size_t b = i_++;
        while (i_ < s_.size() && isIdentChar(s_[i_])) ++i_;
        t.kind = Tok::Special;
        t.text = std::string(s_.substr(b, i_ - b));
        if (t.text != "$this" && t.text != "$index" && t.text != "$total")
          throw ParseError{"unknown special variable '" + t.text + "'", t.pos};
      } else if (c == '%') {
        ++i_;
        t.kind = Tok::Variable;
        if (i_ < s_.size() && s_[i_] == '`') {
          t.text = quoted('`');
        } else if (i_ < s_.size() && s_[i_] == '\'') {
          t.text = quoted('\'');
        } else if (i_ < s_.size() && isIdentStart(s_[i_])) {
          size_t b = i_;
          while (i_ < s_.size() && (isIdentChar(s_[i_]) || s_[i_] == '-')) ++i_;
          t.text = std::string(s_.substr(b, i_ - b));
        } else {
          throw ParseError{"'%' must be followed by a variable name", t.pos};
        }
      } else {
        t.kind = Tok::Op;
        static const char* two[] = {"<=", ">=", "!=", "!~"};
        bool done = false;
        for (const char* op : two) {
          if (s_.substr(i_, 2) == op) {
            t.text = op;
            i_ += 2;
            done = true;
            break;
          }
        }
        if (!done) {
          if (!std::strchr(".[](){},+-*/&|=~<>", c))
            throw ParseError{std::string("unexpected character '") + c + "'", t.pos};
          t.text = std::string(1, c);
          ++i_;
        }
      }
      out.push_back(std::move(t));
    }
  }

 private:
  void skipSpace() {
    for (;;) {
      while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\r' || s_[i_] == '\n'))
        ++i_;
      if (s_.substr(i_, 2) == "//") {
        while (i_ < s_.size() && s_[i_] != '\n') ++i_;
      } else if (s_.substr(i_, 2) == "/*") {
        size_t end = s_.find("*/", i_ + 2);
        if (end == std::string_view::npos)
          throw ParseError{"comment '/*' is not closed", static_cast<uint32_t>(i_)};
        i_ = end + 2;
      } else {
        return;
      }
    }
  }

  std::string quoted(char q) {
    uint32_t start = static_cast<uint32_t>(i_);
    ++i_;
    std::string out;
    while (i_ < s_.size() && s_[i_] != q) {
      char c = s_[i_];
      if (c == '\\') {
        if (i_ + 1 >= s_.size()) break;
        char e = s_[i_ + 1];
        i_ += 2;
        switch (e) {
          case '\'': out += '\''; break;
          case '"': out += '"'; break;
          case '`': out += '`'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            if (!isHex4(i_)) {
              out += 'u';  // not an escape: the '\' is ignored
              break;
            }
            uint32_t cp = hex4(i_ - 2);
            if (cp >= 0xD800 && cp <= 0xDBFF && s_.substr(i_, 2) == "\\u") {
              i_ += 2;
              uint32_t lo = hex4(i_ - 2);
              if (lo >= 0xDC00 && lo <= 0xDFFF) cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
              else throw ParseError{"invalid surrogate pair in \\u escape", static_cast<uint32_t>(i_ - 8)};
            }
            json::appendUtf8(out, cp);
            break;
          }
          default:
            // N1 4.1.2: a '\' before anything else is ignored.
            out += e;
            break;
        }
        continue;
      }
      out += c;
      ++i_;
    }
    if (i_ >= s_.size())
      throw ParseError{std::string(q == '\'' ? "string" : "identifier") + " is not closed", start};
    ++i_;
    return out;
  }

  bool isHex4(size_t at) const {
    if (at + 4 > s_.size()) return false;
    for (size_t k = 0; k < 4; ++k)
      if (!std::isxdigit(static_cast<unsigned char>(s_[at + k]))) return false;
    return true;
  }

  uint32_t hex4(size_t escapePos) {
    if (i_ + 4 > s_.size()) throw ParseError{"\\u needs four hex digits", static_cast<uint32_t>(escapePos)};
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      char h = s_[i_ + k];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= h - '0';
      else if (h >= 'a' && h <= 'f') v |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') v |= h - 'A' + 10;
      else throw ParseError{"\\u needs four hex digits", static_cast<uint32_t>(escapePos)};
    }
    i_ += 4;
    return v;
  }

  size_t digits(size_t n) {
    size_t k = 0;
    while (k < n && i_ + k < s_.size() && isDigit(s_[i_ + k])) ++k;
    return k;
  }

  // After '@': DATE ('T' TIME? TZ?)? or 'T' TIME.
  void dateTime(Token& t) {
    size_t b = i_;
    auto need = [&](size_t n, const char* what) {
      if (digits(n) != n) throw ParseError{std::string("invalid date/time literal: expected ") + what, t.pos};
      i_ += n;
    };
    auto time = [&]() {
      need(2, "hour");
      if (i_ < s_.size() && s_[i_] == ':') {
        ++i_;
        need(2, "minute");
        if (i_ < s_.size() && s_[i_] == ':') {
          ++i_;
          need(2, "second");
          if (i_ + 1 < s_.size() && s_[i_] == '.' && isDigit(s_[i_ + 1])) {
            ++i_;
            while (i_ < s_.size() && isDigit(s_[i_])) ++i_;
          }
        }
      }
    };
    auto tz = [&]() {
      if (i_ < s_.size() && s_[i_] == 'Z') {
        ++i_;
      } else if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-') && digits(0) == 0 &&
                 i_ + 6 <= s_.size() && isDigit(s_[i_ + 1]) && isDigit(s_[i_ + 2]) &&
                 s_[i_ + 3] == ':' && isDigit(s_[i_ + 4]) && isDigit(s_[i_ + 5])) {
        i_ += 6;
      }
    };
    if (i_ < s_.size() && s_[i_] == 'T') {
      ++i_;
      time();
      size_t before = i_;
      tz();
      t.kind = Tok::Time;
      t.text = std::string(s_.substr(b, i_ - b));
      if (i_ != before) throw ParseError{"a time literal cannot have a timezone", t.pos};
      return;
    }
    need(4, "year");
    t.kind = Tok::DateTime;
    if (i_ < s_.size() && s_[i_] == '-' && digits(0) == 0 && i_ + 1 < s_.size() && isDigit(s_[i_ + 1])) {
      ++i_;
      need(2, "month");
      if (i_ < s_.size() && s_[i_] == '-' && i_ + 1 < s_.size() && isDigit(s_[i_ + 1])) {
        ++i_;
        need(2, "day");
      }
    }
    if (i_ < s_.size() && s_[i_] == 'T') {
      ++i_;
      if (digits(2) == 2) {
        time();
        tz();
      }
    }
    t.text = std::string(s_.substr(b, i_ - b));
  }

  std::string_view s_;
  size_t i_ = 0;
};

const char* const kCalendarUnits[] = {
    "year", "years", "month", "months", "week", "weeks", "day", "days", "hour", "hours",
    "minute", "minutes", "second", "seconds", "millisecond", "milliseconds"};

bool isCalendarUnit(std::string_view s) {
  for (const char* u : kCalendarUnits)
    if (s == u) return true;
  return false;
}

class Parser {
 public:
  Parser(std::vector<Token> toks, Expression::Impl& impl, unsigned maxDepth)
      : t_(std::move(toks)), impl_(impl), maxDepth_(maxDepth) {}

  std::unique_ptr<Ast> parseAll() {
    auto e = expression(0);
    if (peek().kind != Tok::End)
      throw ParseError{"unexpected '" + peek().text + "' after the end of the expression", peek().pos};
    return e;
  }

 private:
  const Token& peek(size_t k = 0) const { return t_[std::min(p_ + k, t_.size() - 1)]; }
  const Token& next() { return t_[std::min(p_++, t_.size() - 1)]; }
  bool isOp(const char* op, size_t k = 0) const { return peek(k).kind == Tok::Op && peek(k).text == op; }
  bool isWord(const char* w, size_t k = 0) const { return peek(k).kind == Tok::Ident && peek(k).text == w; }
  void expectOp(const char* op) {
    if (!isOp(op)) {
      const Token& tk = peek();
      throw ParseError{std::string("expected '") + op + "' but found " +
                           (tk.kind == Tok::End ? std::string("the end of the expression") : "'" + tk.text + "'"),
                       tk.pos};
    }
    ++p_;
  }

  static std::unique_ptr<Ast> node(Op op, uint32_t pos) {
    auto n = std::make_unique<Ast>();
    n->op = op;
    n->pos = pos;
    return n;
  }
  std::unique_ptr<Ast> binary(Op op, uint32_t pos, std::unique_ptr<Ast> l, std::unique_ptr<Ast> r) {
    auto n = node(op, pos);
    n->args.push_back(std::move(l));
    n->args.push_back(std::move(r));
    return grown(std::move(n));
  }

  // Sets the node's height from its children; the evaluator recurses once per level, so
  // the height is bounded like the nesting of the text.
  std::unique_ptr<Ast> grown(std::unique_ptr<Ast> n) {
    uint32_t h = 0;
    for (const auto& a : n->args)
      if (a) h = std::max(h, a->height);
    n->height = h + 1;
    if (n->height > maxDepth_) throw ParseError{"expression nests too deeply", n->pos};
    return n;
  }

  struct Guard {
    Parser& p;
    explicit Guard(Parser& pp, uint32_t pos) : p(pp) {
      if (++p.depth_ > p.maxDepth_) throw ParseError{"expression nests too deeply", pos};
    }
    ~Guard() { --p.depth_; }
  };

  // Precedence levels, lowest first.
  enum Level { kImplies, kOr, kAnd, kMembership, kEquality, kInequality, kUnion, kType, kAdditive, kMultiplicative, kUnary };

  // The binary operator at the current token for `level`, or Empty.
  Op binaryAt(int level) const {
    const Token& tk = peek();
    bool op = tk.kind == Tok::Op, id = tk.kind == Tok::Ident;
    const std::string& s = tk.text;
    switch (level) {
      case kImplies: return id && s == "implies" ? Op::Implies : Op::Empty;
      case kOr: return id && s == "or" ? Op::Or : id && s == "xor" ? Op::Xor : Op::Empty;
      case kAnd: return id && s == "and" ? Op::And : Op::Empty;
      case kMembership: return id && s == "in" ? Op::In : id && s == "contains" ? Op::Contains : Op::Empty;
      case kEquality:
        if (!op) return Op::Empty;
        return s == "=" ? Op::Eq : s == "~" ? Op::Equiv : s == "!=" ? Op::Ne : s == "!~" ? Op::NotEquiv : Op::Empty;
      case kInequality:
        if (!op) return Op::Empty;
        return s == "<" ? Op::Lt : s == ">" ? Op::Gt : s == "<=" ? Op::Le : s == ">=" ? Op::Ge : Op::Empty;
      case kUnion: return op && s == "|" ? Op::Union : Op::Empty;
      case kType: return id && s == "is" ? Op::Is : id && s == "as" ? Op::As : Op::Empty;
      case kAdditive:
        if (!op) return Op::Empty;
        return s == "+" ? Op::Add : s == "-" ? Op::Sub : s == "&" ? Op::Concat : Op::Empty;
      case kMultiplicative:
        if (op) return s == "*" ? Op::Mul : s == "/" ? Op::Div : Op::Empty;
        return id && s == "div" ? Op::IntDiv : id && s == "mod" ? Op::Mod : Op::Empty;
      default: return Op::Empty;
    }
  }

  std::unique_ptr<Ast> expression(int level) {
    if (level == kUnary) return unary();
    if (level == kImplies) {
      auto left = expression(kOr);
      if (binaryAt(kImplies) != Op::Empty) {
        uint32_t pos = next().pos;
        auto right = expression(kImplies);  // right-associative
        return binary(Op::Implies, pos, std::move(left), std::move(right));
      }
      return left;
    }
    auto left = expression(level + 1);
    for (;;) {
      Op op = binaryAt(level);
      if (op == Op::Empty) return left;
      uint32_t pos = next().pos;
      if (level == kType) {
        auto n = node(op, pos);
        n->args.push_back(std::move(left));
        n->type = typeSpecifier();
        left = grown(std::move(n));
        continue;
      }
      auto right = expression(level + 1);
      left = binary(op, pos, std::move(left), std::move(right));
    }
  }

  TypeRef typeSpecifier() {
    TypeRef t;
    std::string first = identifier("a type name");
    if (isOp(".")) {
      ++p_;
      std::string second = identifier("a type name");
      if (first == "System") t.ns = TypeRef::Ns::System;
      else if (first == "FHIR") t.ns = TypeRef::Ns::FHIR;
      else throw ParseError{"unknown type namespace '" + first + "'", peek().pos};
      t.name = second;
    } else {
      t.name = first;
    }
    return t;
  }

  std::string identifier(const char* what) {
    const Token& tk = peek();
    if (tk.kind == Tok::Ident || tk.kind == Tok::DelimIdent) {
      ++p_;
      return tk.text;
    }
    throw ParseError{std::string("expected ") + what, tk.pos};
  }

  std::unique_ptr<Ast> unary() {
    if (isOp("-") || isOp("+")) {
      uint32_t pos = peek().pos;
      bool neg = next().text == "-";
      Guard g(*this, pos);
      auto operand = unary();
      if (neg && operand->op == Op::Literal && operand->literal.kind() == ItemKind::Integer) {
        operand->literal = Item::integer(-operand->literal.integer());  // -2147483648 is valid
        operand->pos = pos;
        return operand;
      }
      auto n = node(neg ? Op::Negate : Op::Plus, pos);
      n->args.push_back(std::move(operand));
      return grown(std::move(n));
    }
    return postfix(term());
  }

  std::unique_ptr<Ast> postfix(std::unique_ptr<Ast> e) {
    for (;;) {
      if (isOp(".")) {
        ++p_;
        e = invocation(std::move(e));
      } else if (isOp("[")) {
        uint32_t pos = next().pos;
        auto idx = expression(0);
        expectOp("]");
        e = binary(Op::Indexer, pos, std::move(e), std::move(idx));
      } else {
        return e;
      }
    }
  }

  // identifier | identifier '(' args ')' | $this | $index | $total, applied to `input`
  // (null: the focus).
  std::unique_ptr<Ast> invocation(std::unique_ptr<Ast> input) {
    const Token& tk = peek();
    if (tk.kind == Tok::Special) {
      ++p_;
      if (input) throw ParseError{tk.text + " cannot follow '.'", tk.pos};
      return node(tk.text == "$this" ? Op::This : tk.text == "$index" ? Op::Index : Op::Total, tk.pos);
    }
    if (tk.kind != Tok::Ident && tk.kind != Tok::DelimIdent) {
      throw ParseError{tk.kind == Tok::End ? "expected a name after '.', found the end of the expression"
                                           : "expected a name, found '" + tk.text + "'",
                       tk.pos};
    }
    uint32_t pos = tk.pos;
    bool delimited = tk.kind == Tok::DelimIdent;
    std::string name = next().text;
    if (!delimited && isOp("(")) {
      ++p_;
      auto n = node(Op::Function, pos);
      n->name = std::move(name);
      n->args.push_back(std::move(input));
      if (!isOp(")")) {
        for (;;) {
          n->args.push_back(expression(0));
          if (isOp(",")) {
            ++p_;
            continue;
          }
          break;
        }
      }
      expectOp(")");
      return grown(std::move(n));
    }
    auto n = node(Op::Member, pos);
    n->typeHead = !input;
    n->name = std::move(name);
    n->args.push_back(std::move(input));
    return grown(std::move(n));
  }

  std::unique_ptr<Ast> term() {
    const Token& tk = peek();
    uint32_t pos = tk.pos;
    Guard g(*this, pos);  // parentheses and arguments nest the parser's recursion
    switch (tk.kind) {
      case Tok::End:
        throw ParseError{"expected an expression, found the end of the text", pos};
      case Tok::String: {
        auto n = node(Op::Literal, pos);
        impl_.strings.push_back(next().text);
        n->literal = Item::string(impl_.strings.back());
        return n;
      }
      case Tok::Number: {
        std::string text = next().text;
        // A quantity: number followed by a unit string or a calendar keyword.
        if (peek().kind == Tok::String || (peek().kind == Tok::Ident && isCalendarUnit(peek().text))) {
          std::string unit = next().text;
          auto d = Decimal::parse(text);
          if (!d) throw ParseError{"number '" + text + "' is out of range", pos};
          auto n = node(Op::Literal, pos);
          impl_.quantities.emplace_back(*d, unit);
          n->literal = Item::quantity(&impl_.quantities.back());
          return n;
        }
        auto n = node(Op::Literal, pos);
        if (text.find('.') == std::string::npos) {
          // Integers are 32-bit in FHIRPath (N1 4.1.3); a larger literal is an error.
          errno = 0;
          char* end = nullptr;
          long long v = std::strtoll(text.c_str(), &end, 10);
          if (errno != 0 || v > 2147483648LL)
            throw ParseError{"integer " + text + " is out of range (FHIRPath integers are 32-bit; write " +
                                 text + ".0 for a decimal)",
                             pos};
          // 2147483648 is only valid negated; as an operand of '-' it is folded below.
          n->literal = Item::integer(v);
          return n;
        }
        auto d = Decimal::parse(text);
        if (!d) throw ParseError{"number '" + text + "' is out of range", pos};
        impl_.decimals.push_back(*d);
        n->literal = Item::decimal(&impl_.decimals.back());
        return n;
      }
      case Tok::DateTime:
      case Tok::Time: {
        std::string text = next().text;
        auto t = Temporal::parseLiteral(text);
        if (!t) throw ParseError{"invalid date/time literal '@" + text + "'", pos};
        impl_.temporals.push_back(*t);
        auto n = node(Op::Literal, pos);
        n->literal = Item::temporal(&impl_.temporals.back());
        return n;
      }
      case Tok::Variable: {
        auto n = node(Op::Variable, pos);
        n->name = next().text;
        return n;
      }
      case Tok::Special:
      case Tok::DelimIdent:
        return invocation(nullptr);
      case Tok::Ident: {
        if (tk.text == "true" || tk.text == "false") {
          auto n = node(Op::Literal, pos);
          n->literal = Item::boolean(next().text == "true");
          return n;
        }
        return invocation(nullptr);
      }
      case Tok::Op:
        if (tk.text == "(") {
          ++p_;
          auto e = expression(0);
          expectOp(")");
          return e;
        }
        if (tk.text == "{") {
          ++p_;
          expectOp("}");
          return node(Op::Empty, pos);
        }
        throw ParseError{"expected an expression, found '" + tk.text + "'", pos};
    }
    throw ParseError{"unexpected token", pos};
  }

  std::vector<Token> t_;
  size_t p_ = 0;
  Expression::Impl& impl_;
  unsigned maxDepth_;
  unsigned depth_ = 0;
};

// ---------------------------------------------------------------------------------
// Resolution and checks after parsing.

struct Resolver {
  const Registry& reg;
  const CompileOptions& opts;
  Expression::Impl& impl;

  [[noreturn]] void error(const Ast& at, std::string msg) { throw ParseError{std::move(msg), at.pos}; }

  // A type named by an expression used as a function argument: ident or ns.ident.
  bool typeFromArg(const Ast& a, TypeRef& t) {
    if (a.op != Op::Member) return false;
    if (!a.args[0]) {
      t.ns = TypeRef::Ns::Unqualified;
      t.name = a.name;
      return true;
    }
    const Ast& ns = *a.args[0];
    if (ns.op != Op::Member || ns.args[0]) return false;
    if (ns.name == "System") t.ns = TypeRef::Ns::System;
    else if (ns.name == "FHIR") t.ns = TypeRef::Ns::FHIR;
    else return false;
    t.name = a.name;
    return true;
  }

  void variable(const Ast& n) {
    static const char* builtin[] = {"resource", "rootResource", "context", "ucum", "sct", "loinc", "us-zip", "factory", "server", "terminologies"};
    for (const char* b : builtin)
      if (n.name == b) return;
    if (n.name.starts_with("vs-") || n.name.starts_with("ext-")) return;
    for (const auto& v : opts.variables)
      if (v == n.name) return;
    error(n, "unknown variable '%" + n.name + "'");
  }

  void walk(Ast& n) {
    for (auto& a : n.args)
      if (a) walk(*a);
    switch (n.op) {
      case Op::Literal:
        if (n.literal.kind() == ItemKind::Integer && n.literal.integer() > 2147483647LL)
          error(n, "integer 2147483648 is out of range (FHIRPath integers are 32-bit)");
        break;
      case Op::Variable:
        variable(n);
        break;
      case Op::Is:
      case Op::As:
        if (!resolveType(reg, n.type)) error(n, "unknown type '" + n.type.display() + "'");
        break;
      case Op::Function: {
        n.fn = findFunction(n.name);
        if (!n.fn) error(n, "unknown function '" + n.name + "'");
        size_t argc = n.args.size() - 1;
        if (argc < n.fn->minArgs || argc > n.fn->maxArgs) {
          std::string expect = n.fn->minArgs == n.fn->maxArgs ? std::to_string(n.fn->minArgs)
                               : std::to_string(n.fn->minArgs) + " to " + std::to_string(n.fn->maxArgs);
          error(n, "function '" + n.name + "' takes " + expect + " argument" +
                       (n.fn->maxArgs == 1 && n.fn->minArgs == 1 ? "" : "s") + ", not " + std::to_string(argc));
        }
        if (n.name == "is" || n.name == "as" || n.name == "ofType") {
          if (!typeFromArg(*n.args[1], n.type)) error(*n.args[1], "'" + n.name + "' needs a type name");
          if (!resolveType(reg, n.type)) error(*n.args[1], "unknown type '" + n.type.display() + "'");
        } else if (n.name == "sort") {
          // Keys written with a leading '-' sort in descending order.
          for (size_t i = 1; i < n.args.size(); ++i) {
            Ast& k = *n.args[i];
            if (k.op == Op::Negate) {
              auto inner = std::move(k.args[0]);
              inner->descending = true;
              n.args[i] = std::move(inner);
            }
          }
        } else if ((n.name == "matches" || n.name == "matchesFull" || n.name == "replaceMatches") &&
                   n.args.size() >= 2 && n.args[1]->op == Op::Literal &&
                   n.args[1]->literal.kind() == ItemKind::String) {
          std::string pattern(n.args[1]->literal.string());
          std::string why;
          n.regex = regex::Regex::compile(pattern, why);
          if (!n.regex) error(*n.args[1], "invalid regular expression '" + pattern + "': " + why);
        }
        break;
      }
      default:
        break;
    }
  }

};

}  // namespace


std::string TypeRef::display() const {
  return ns == Ns::System ? "System." + name : ns == Ns::FHIR ? "FHIR." + name : name;
}

bool resolveType(const Registry& reg, TypeRef& t) {
  static const std::pair<const char*, ItemKind> systemTypes[] = {
      {"Boolean", ItemKind::Boolean}, {"Integer", ItemKind::Integer}, {"Decimal", ItemKind::Decimal},
      {"String", ItemKind::String},   {"Date", ItemKind::Date},       {"DateTime", ItemKind::DateTime},
      {"Time", ItemKind::Time},       {"Quantity", ItemKind::Quantity}};
  t.system = -1;
  t.fhir = nullptr;
  if (t.ns != TypeRef::Ns::FHIR) {
    for (const auto& [name, kind] : systemTypes)
      if (t.name == name) t.system = static_cast<int>(kind);
  }
  if (t.ns != TypeRef::Ns::System) t.fhir = reg.type(t.name);
  return t.system >= 0 || t.fhir != nullptr;
}

}  // namespace detail

std::string CompileError::toString() const {
  return "line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + message;
}

Expression::~Expression() = default;

ExpressionPtr compile(const Registry& registry, std::string_view text, CompileError& error,
                      const CompileOptions& options) {
  auto setError = [&](std::string message, uint32_t pos) {
    error.message = std::move(message);
    error.offset = pos;
    error.line = 1;
    error.column = 1;
    for (size_t i = 0; i < pos && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++error.line;
        error.column = 1;
      } else {
        ++error.column;
      }
    }
  };
  if (text.size() > options.maxLength) {
    setError("expression is longer than the limit of " + std::to_string(options.maxLength) + " bytes", 0);
    return nullptr;
  }
  auto expr = std::shared_ptr<Expression>(new Expression());
  expr->text_ = std::string(text);
  expr->registry_ = &registry;
  expr->impl_ = std::make_unique<Expression::Impl>();
  try {
    detail::Lexer lex(expr->text_);
    detail::Parser parser(lex.run(), *expr->impl_, options.maxDepth);
    expr->impl_->root = parser.parseAll();
    detail::Resolver r{registry, options, *expr->impl_};
    r.walk(*expr->impl_->root);
    detail::checkTypes(registry, *expr->impl_->root, options);
  } catch (const detail::ParseError& e) {
    setError(e.message, e.pos);
    return nullptr;
  } catch (const detail::TypeCheckError& e) {
    setError(e.message, e.pos);
    return nullptr;
  }
  return expr;
}

}  // namespace hoa::fhir::fhirpath
