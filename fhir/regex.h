#pragma once
// Regular expressions for FHIRPath matches(), matchesFull() and replaceMatches().
//
// Patterns and texts both come from untrusted input, so matching is a Pike VM (a Thompson
// NFA simulation that carries capture positions per thread): one pass over the text, no
// recursion, no backtracking. search() and fullMatch() take O(text length × program size)
// time and O(program size) memory whatever the pattern; replaceAll() is bounded by a work
// budget (see there).
//
// Which strings match is exactly what a backtracking engine says. Which match replaceAll()
// picks, and what its groups hold, follow leftmost-first priority as in a backtracking
// engine: greedy quantifiers prefer more, lazy ones less, the earlier alternative wins; a
// group repeated by a quantifier holds its last iteration that took part (as PCRE and Java
// have it; ECMAScript instead clears the groups inside at each iteration). Where a
// quantifier repeats something that can match the empty string ('(a|b?)+', '(x*y??)*')
// the priorities can differ from a backtracking engine's (which also disagree there among
// themselves): the match found is still a match, but may be shorter or capture otherwise.
//
// Syntax: the ECMAScript/PCRE subset FHIRPath users write, in single-line mode (FHIRPath
// says so): '.' matches any code point including newlines, '^' and '$' match only at the
// start and end of the whole text.
//   - Text and pattern are UTF-8; '.', classes and literals match whole code points. Bytes
//     of the text that are not well-formed UTF-8 count as one character each, matched by
//     '.' and the negated sets ([^...], \D, \S, \W) only.
//   - Escapes: \d \D \s \S \w \W, ASCII sets as in PCRE and Java: \d = [0-9],
//     \w = [A-Za-z0-9_], \s = [ \t\n\v\f\r] (not the Unicode spaces ECMAScript adds: the
//     FHIR string pattern '[ \r\n\t\S]+' must accept a no-break space); \n \r \t \f \v \0,
//     \uXXXX (a surrogate pair written as two \u escapes is one code point), \xHH, and a
//     backslash before any character that is not an ASCII letter or digit is that
//     character (\. \\ \/ \- \[ \] \( \) \{ \} \* \+ \? \| \^ \$ \' \: \@ …).
//   - Classes [...] and [^...] with ranges and the escapes above (\b is a backspace
//     there); ']' right after '[' or '[^' is a literal, '-' first or last is a literal.
//   - Anchors ^ $, word boundaries \b \B (between a \w character and anything else).
//   - Groups (...) capturing (at most kMaxGroups), (?:...) non-capturing; alternation |.
//     Named groups (?<name>...), also spelled (?P<name>...), with a name of ASCII letters,
//     digits and '_' not starting with a digit: a capturing group numbered in order with
//     the unnamed ones ('(a)(?<x>b)(c)': x is group 2) that can also be referred to by
//     name (groupNumber(), '${name}' in replaceAll()). A name used twice is an error.
//   - Quantifiers * + ? {n} {n,} {n,m} (counts up to kMaxRepeat) and their lazy forms
//     *? +? ?? {n}? {n,}? {n,m}?. A '{' that does not start a quantifier is a literal, as
//     are a lone '}' and ']'.
// Rejected with an error naming the problem and its byte offset: back-references
// (numbered \1, named \k<name> and (?P=name)), lookahead and lookbehind, the (?'name'...)
// spelling of named groups, invalid, empty and duplicate group names, atomic groups,
// possessive quantifiers, inline flags, comments, Unicode property escapes, POSIX
// classes, octal escapes, unknown escapes (\q, \A, \z, …), '{,n}' (its meaning differs
// between engines), a quantifier with nothing to repeat or after another quantifier,
// unbalanced parentheses or brackets, reversed ranges, and ill-formed UTF-8 in the pattern.
//
// Limits: the pattern is at most kMaxPatternBytes long, nests parentheses at most
// kMaxNesting deep, and compiles to at most kMaxInstructions instructions (counted
// repetition is expanded: x{3,5} costs five copies of x); beyond that compile() fails with
// "regular expression too large". So that the capture positions replaceAll() keeps per
// step stay within 4 MiB, many groups in a large program fail the same way (99 groups
// allow some 2,600 characters' worth of instructions; 9 groups never reach the limit).
//
// A Regex is immutable once compiled and safe to use from many threads at once; copies
// share the compiled program.
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace hoa::fhir::regex {

namespace detail {
struct Program;
}

class Regex {
 public:
  static constexpr size_t kMaxPatternBytes = 4096;
  static constexpr size_t kMaxInstructions = 20000;
  static constexpr size_t kMaxRepeat = 1000;
  static constexpr size_t kMaxGroups = 99;
  static constexpr size_t kMaxNesting = 100;

  // Compiles a pattern; on failure returns nullopt and sets error to a message such as
  // "back-references are not supported at offset 4".
  static std::optional<Regex> compile(std::string_view pattern, std::string& error);

  // Whether the pattern matches somewhere in the text (FHIRPath matches()).
  bool search(std::string_view text) const;
  // Whether the pattern matches the whole text (FHIRPath matchesFull()), as '^(?:p)$'.
  bool fullMatch(std::string_view text) const;

  // Replaces every non-overlapping leftmost match (FHIRPath replaceMatches()). In the
  // replacement, $0 and $& are the whole match, $1..$9 (and $10..$99 when the pattern
  // has that many groups) a group; ${name} the group of that name and ${n} group n
  // (decimal; the braces separate it from following digits: ${1}0); a group that took no
  // part in the match gives the empty string. $$ is one '$'. Any other '$' is literal,
  // and so is the whole of a '${…}' that names no group of the pattern ('${nope}', '${7}'
  // with fewer groups, '${}', '${a-b}'), copied unchanged as '$1' is without a group 1;
  // likewise '$name' without braces and ECMAScript's '$<name>'. After an empty match the
  // search resumes one code point further on (the code point is copied), so 'x*' on "ab"
  // with "-" gives "-a-b-".
  //
  // Each match costs at most one linear pass, but a pattern that scans far ahead before
  // settling on a short match (('a.*b|a') on "aaaa…") makes the whole replacement
  // quadratic, as in every automaton engine. So the work is bounded: nullopt when it
  // exceeds max(2^24, 8 × (text length + 1) × program size) VM steps, which ordinary
  // patterns stay far below.
  std::optional<std::string> replaceAll(std::string_view text, std::string_view replacement) const;

  // The number of capturing groups, named ones included.
  size_t groupCount() const;
  // The number of the group with this name, or nullopt when there is none.
  std::optional<size_t> groupNumber(std::string_view name) const;
  // The number of compiled instructions (at most kMaxInstructions).
  size_t programSize() const;

 private:
  explicit Regex(std::shared_ptr<const detail::Program> program) : program_(std::move(program)) {}
  std::shared_ptr<const detail::Program> program_;
};

}  // namespace hoa::fhir::regex
