// The linear-time regular-expression engine behind FHIRPath matches(), matchesFull() and
// replaceMatches(): syntax, captures, replacement, the patterns of the FHIR R4 core
// definitions, pathological patterns on large input, errors and limits, threads, and a
// differential check against a backtracking reference on random small patterns.
#include "fhir/regex.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <filesystem>
#include <functional>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "fhir/json.h"
#include "tests/test_env.h"

namespace {

using hoa::fhir::regex::Regex;

Regex compiled(std::string_view pattern) {
  std::string error;
  auto re = Regex::compile(pattern, error);
  if (!re) {
    ADD_FAILURE() << "'" << pattern << "' does not compile: " << error;
    return *Regex::compile("[^\\s\\S]", error);  // matches nothing
  }
  EXPECT_TRUE(error.empty()) << pattern;
  return *re;
}

bool search(std::string_view pattern, std::string_view text) { return compiled(pattern).search(text); }
bool full(std::string_view pattern, std::string_view text) { return compiled(pattern).fullMatch(text); }
std::string replace(std::string_view pattern, std::string_view text, std::string_view replacement) {
  auto r = compiled(pattern).replaceAll(text, replacement);
  if (!r) {
    ADD_FAILURE() << "'" << pattern << "' replaceAll over budget";
    return "<over budget>";
  }
  return *r;
}
// The compile error, or "" when the pattern compiles.
std::string errorOf(std::string_view pattern) {
  std::string error;
  auto re = Regex::compile(pattern, error);
  return re ? std::string() : error;
}

// ---------------------------------------------------------------------------------
// Syntax

TEST(RegexSyntax, Literals) {
  EXPECT_TRUE(search("abc", "xxabcxx"));
  EXPECT_FALSE(search("abc", "ab"));
  EXPECT_FALSE(search("abc", "aBc"));
  EXPECT_TRUE(full("abc", "abc"));
  EXPECT_FALSE(full("abc", "abcd"));
  EXPECT_FALSE(full("abc", "xabc"));
  EXPECT_TRUE(search("", ""));
  EXPECT_TRUE(search("", "x"));
  EXPECT_TRUE(full("", ""));
  EXPECT_FALSE(full("", "x"));
  EXPECT_TRUE(search("a b", "a b"));
  EXPECT_TRUE(full("#%&'\",:;<=>@_`~!/", "#%&'\",:;<=>@_`~!/"));
  // ']' and '}' on their own, and a '{' that does not start a quantifier, are literals.
  EXPECT_TRUE(full("a]", "a]"));
  EXPECT_TRUE(full("a}", "a}"));
  EXPECT_TRUE(full("a{", "a{"));
  EXPECT_TRUE(full("{", "{"));
  EXPECT_TRUE(full("a{x}", "a{x}"));
  EXPECT_TRUE(full("a{1", "a{1"));
  EXPECT_TRUE(full("a{1,2", "a{1,2"));
  EXPECT_TRUE(full("a{,}", "a{,}"));
  EXPECT_TRUE(full("{}", "{}"));
  EXPECT_EQ(compiled("abc").groupCount(), 0u);
}

TEST(RegexSyntax, DotMatchesAnyCodePointIncludingNewlines) {
  EXPECT_TRUE(full(".", "a"));
  EXPECT_TRUE(full(".", "\n"));
  EXPECT_TRUE(full(".", "\r"));
  EXPECT_TRUE(full(".", "\u2028"));
  EXPECT_TRUE(full("a.c", "a\nc"));
  EXPECT_TRUE(full(".*", "line 1\nline 2\r\nline 3"));
  EXPECT_TRUE(full(".", "æ"));
  EXPECT_FALSE(full("..", "æ"));  // two bytes, one code point
  EXPECT_TRUE(full(".", "€"));
  EXPECT_TRUE(full(".", "😀"));
  EXPECT_FALSE(full("..", "😀"));
  EXPECT_TRUE(full("^.{3}$", "æøå"));
  EXPECT_FALSE(full(".", ""));
}

TEST(RegexSyntax, ClassEscapes) {
  EXPECT_TRUE(full("\\d+", "0123456789"));
  EXPECT_FALSE(search("\\d", "abc"));
  EXPECT_FALSE(search("\\d", "٣"));  // ASCII digits only
  EXPECT_TRUE(full("\\D+", "abc æ"));
  EXPECT_FALSE(search("\\D", "123"));
  EXPECT_TRUE(full("\\w+", "azAZ09_"));
  EXPECT_FALSE(search("\\w", "æ-. "));  // ASCII word characters only
  EXPECT_TRUE(full("\\W+", "æ-. "));
  EXPECT_TRUE(full("\\s+", " \t\n\r\f\v"));
  EXPECT_FALSE(search("\\s", "a_æ"));
  EXPECT_TRUE(full("\\S+", "a_æ"));
  // PCRE and Java: ASCII white space only (ECMAScript would add these).
  for (const char* space : {"\u00a0", "\u1680", "\u2003", "\u2028", "\u202f", "\u3000", "\ufeff"}) {
    EXPECT_FALSE(search("\\s", space)) << space;
    EXPECT_TRUE(full("\\S", space)) << space;
  }
  EXPECT_FALSE(search("\\S", " \t\n"));
}

TEST(RegexSyntax, CharacterEscapes) {
  EXPECT_TRUE(full("\\n\\r\\t\\f\\v", "\n\r\t\f\v"));
  EXPECT_TRUE(full(std::string_view("\\0", 2), std::string_view("\0", 1)));
  EXPECT_TRUE(full("\\x41\\x7a", "Az"));
  EXPECT_TRUE(full("\\xe6", "æ"));
  EXPECT_TRUE(full("\\u00e6\\u00F8\\u00e5", "æøå"));
  EXPECT_TRUE(full("\\u20AC", "€"));
  EXPECT_TRUE(full("\\uD83D\\uDE00", "😀"));  // a surrogate pair is one code point
  EXPECT_TRUE(full("[\\uD83D\\uDE00-\\uD83D\\uDE4F]", "😃"));
  // A backslash before anything that is not an ASCII letter or digit is that character.
  for (std::string c : {".", "\\", "/", "-", "[", "]", "(", ")", "{", "}", "*", "+", "?", "|", "^", "$", "'", "\"", ":",
                        "@", "#", " ", "æ"}) {
    EXPECT_TRUE(full("\\" + c, c)) << c;
    EXPECT_FALSE(full("\\" + c, "x")) << c;
  }
  EXPECT_TRUE(full("a\\.b", "a.b"));
  EXPECT_FALSE(full("a\\.b", "axb"));
  EXPECT_TRUE(full("\\(\\d+\\)", "(42)"));
  EXPECT_TRUE(full("a\\*+", "a***"));
}

TEST(RegexSyntax, CharacterClasses) {
  EXPECT_TRUE(full("[abc]+", "cab"));
  EXPECT_FALSE(search("[abc]", "xyz"));
  EXPECT_TRUE(full("[a-z]+", "hello"));
  EXPECT_FALSE(search("[a-z]", "HELLO"));
  EXPECT_TRUE(full("[A-Za-z0-9]+", "Abc123"));
  EXPECT_TRUE(full("[^a-z]+", "ABC 123\n"));
  EXPECT_FALSE(search("[^a-z]", "abc"));
  // ']' first is a literal, also after '^'.
  EXPECT_TRUE(full("[]a]+", "]a]"));
  EXPECT_TRUE(full("[^]a]", "b"));
  EXPECT_FALSE(full("[^]a]", "]"));
  EXPECT_FALSE(full("[^]a]", "a"));
  // '-' first or last is a literal; an escaped '-' is never a range.
  EXPECT_TRUE(full("[-a]+", "-a"));
  EXPECT_TRUE(full("[a-]+", "a-"));
  EXPECT_TRUE(full("[^-a]", "b"));
  EXPECT_FALSE(full("[^-a]", "-"));
  EXPECT_TRUE(full("[a\\-z]+", "a-z"));
  EXPECT_FALSE(full("[a\\-z]", "b"));
  // Next to a set, '-' is a literal (PCRE and ECMAScript agree).
  EXPECT_TRUE(full("[\\d-z]+", "1-z"));
  EXPECT_FALSE(full("[\\d-z]", "y"));
  EXPECT_TRUE(full("[a-\\d]+", "a-5"));
  // Escapes and sets inside classes.
  EXPECT_TRUE(full("[\\[\\]]+", "[]"));
  EXPECT_TRUE(full("[.]", "."));
  EXPECT_FALSE(full("[.]", "x"));
  EXPECT_TRUE(full("[*+?{}()|^$]+", "*+?{}()|^$"));
  EXPECT_TRUE(full("[\\s\\d]+", " 1\t2"));
  EXPECT_TRUE(full("[^\\s]+", "ab"));
  EXPECT_FALSE(full("[^\\s]", " "));
  EXPECT_TRUE(full("[\\S\\s]+", "any\nthing"));
  EXPECT_FALSE(search("[^\\S\\s]", "any\nthing"));  // empty set
  EXPECT_TRUE(full("[\\b]", "\b"));                   // backspace inside a class
  EXPECT_TRUE(full("[\\x41-\\x43]+", "ABC"));
  EXPECT_TRUE(full("[\\u0041-\\u0043]+", "ABC"));
  EXPECT_TRUE(full("[[a]+", "[a["));  // '[' inside a class is a literal
  EXPECT_TRUE(full("[a-a]", "a"));
  EXPECT_TRUE(full("[--/]+", "-./"));  // a range from '-' to '/'
}

TEST(RegexSyntax, NonAsciiClassesAndLiterals) {
  EXPECT_TRUE(full("[æøåÆØÅ]+", "æøåÆØÅ"));
  EXPECT_FALSE(full("[æøå]", "a"));
  EXPECT_TRUE(full("[^æøå]", "a"));
  EXPECT_FALSE(full("[^æøå]", "ø"));
  EXPECT_TRUE(full("[à-ÿ]+", "éèüÿ"));
  EXPECT_FALSE(full("[à-ÿ]", "Ā"));
  EXPECT_FALSE(full("[α-ω]+", "λόγος"));  // 'ό' (U+03CC) is outside α-ω
  EXPECT_TRUE(full("[α-ωά-ώ]+", "λόγος"));
  EXPECT_TRUE(full("Blåbærsyltetøy", "Blåbærsyltetøy"));
  EXPECT_TRUE(search("bær", "Blåbærsyltetøy"));
  EXPECT_FALSE(search("bar", "Blåbærsyltetøy"));
  EXPECT_TRUE(full("Bl.b.rsyltet.y", "Blåbærsyltetøy"));
  EXPECT_TRUE(full("[^a-z]{2}", "æø"));
  EXPECT_FALSE(full("[^a-z]{2}", "æ"));
  EXPECT_TRUE(full("😀+", "😀😀😀"));
  EXPECT_TRUE(full("[😀-😂]", "😁"));
  EXPECT_TRUE(full("ø{3}", "øøø"));
  EXPECT_TRUE(full("(?:æø)+", "æøæø"));
  EXPECT_EQ(replace("[æøå]", "Blåbærsyltetøy", "_"), "Bl_b_rsyltet_y");
  EXPECT_EQ(replace("æ|ø|å", "Ærlig talt, blåbær og røde bær", "[$&]"), "Ærlig talt, bl[å]b[æ]r og r[ø]de b[æ]r");
}

TEST(RegexSyntax, IllFormedUtf8InTheText) {
  // Each byte that is not part of well-formed UTF-8 is one character: '.' and negated
  // classes match it, literals and positive classes do not.
  EXPECT_TRUE(full(".", "\xff"));
  EXPECT_TRUE(full("..", "\xc3\x28"));  // a lead byte without its continuation, then '('
  EXPECT_TRUE(full(".\\(", "\xc3("));
  EXPECT_TRUE(full("...", "\xed\xa0\x80"));  // an encoded surrogate: three bytes
  EXPECT_TRUE(full("..", "\xc0\xaf"));       // an overlong '/'
  EXPECT_TRUE(full("[^a]", "\x80"));
  EXPECT_FALSE(full("\\xff", "\xff"));  // U+00FF is "\xc3\xbf"
  EXPECT_TRUE(full("\\xff", "\xc3\xbf"));
  EXPECT_TRUE(search("[\\s\\S]", "\xff"));  // \S is a negated set
  EXPECT_FALSE(full("a.b", "a\xf0\x9f\x98"  // a truncated four-byte sequence: three units
                    "b"));
  EXPECT_TRUE(full("a...b", "a\xf0\x9f\x98"
                   "b"));
  EXPECT_EQ(replace("x*", "a\xff", "-"), "-a-\xff-");
}

TEST(RegexSyntax, AnchorsAreTextStartAndEnd) {
  EXPECT_TRUE(search("^abc", "abcd"));
  EXPECT_FALSE(search("^bcd", "abcd"));
  EXPECT_TRUE(search("bcd$", "abcd"));
  EXPECT_FALSE(search("abc$", "abcd"));
  EXPECT_TRUE(search("^abcd$", "abcd"));
  // Single-line mode: no line anchors.
  EXPECT_FALSE(search("^b", "a\nb"));
  EXPECT_FALSE(search("a$", "a\nb"));
  EXPECT_FALSE(search("a$", "a\n"));  // unlike PCRE's '$', not before a final newline
  EXPECT_TRUE(search("^$", ""));
  EXPECT_FALSE(search("^$", "\n"));
  EXPECT_FALSE(search("a|^b", "cb"));
  EXPECT_TRUE(search("a|^b", "bc"));
  EXPECT_TRUE(search("x^|b", "b"));
  EXPECT_FALSE(search("x^", "x"));
  EXPECT_TRUE(full("^abc$", "abc"));
  EXPECT_TRUE(full("(^a|b)+", "abb"));
  EXPECT_EQ(replace("^", "abc", ">"), ">abc");
  EXPECT_EQ(replace("$", "abc", "<"), "abc<");
  EXPECT_EQ(replace("^a", "aaa", "x"), "xaa");
  EXPECT_EQ(replace("a$", "aaa", "x"), "aax");
}

TEST(RegexSyntax, WordBoundaries) {
  EXPECT_TRUE(search("\\bcat\\b", "a cat!"));
  EXPECT_TRUE(search("\\bcat\\b", "cat"));
  EXPECT_FALSE(search("\\bcat\\b", "concat"));
  EXPECT_FALSE(search("\\bcat\\b", "cats"));
  EXPECT_TRUE(search("\\Bcat", "concat"));
  EXPECT_FALSE(search("\\Bcat", "cat"));
  EXPECT_TRUE(search("\\bcat", "æcat"));  // 'æ' is not a word character
  EXPECT_TRUE(search("\\b", "a"));
  EXPECT_FALSE(search("\\b", ""));
  EXPECT_FALSE(search("\\b", " - "));
  EXPECT_TRUE(search("\\B", ""));
  EXPECT_EQ(replace("\\b", "ab cd", "|"), "|ab| |cd|");
  EXPECT_EQ(replace("\\B", "abc", "-"), "a-b-c");
}

TEST(RegexSyntax, GroupsAndAlternation) {
  EXPECT_TRUE(full("a|b|c", "b"));
  EXPECT_FALSE(full("a|b|c", "d"));
  EXPECT_TRUE(full("(a|b)c", "bc"));
  EXPECT_TRUE(full("ab|cd", "cd"));
  EXPECT_FALSE(full("ab|cd", "ad"));
  EXPECT_TRUE(full("(?:ab)+", "ababab"));
  EXPECT_FALSE(full("(?:ab)+", "aba"));
  EXPECT_TRUE(full("a(|b)c", "ac"));
  EXPECT_TRUE(full("a(|b)c", "abc"));
  EXPECT_TRUE(search("a|", "zzz"));  // an empty alternative matches anywhere
  EXPECT_TRUE(full("()", ""));
  EXPECT_TRUE(full("((((a))))", "a"));
  EXPECT_TRUE(full("(a(b(c|d))|e)+", "abceabd"));
  EXPECT_EQ(compiled("(a)(?:b)(c(d))").groupCount(), 3u);
  EXPECT_EQ(compiled("(?:(?:a))").groupCount(), 0u);
  // matchesFull() is the whole pattern anchored, alternatives included.
  EXPECT_TRUE(full("a|ab", "ab"));
  EXPECT_FALSE(full("a|b", "ab"));
}

TEST(RegexSyntax, Quantifiers) {
  EXPECT_TRUE(full("a*", ""));
  EXPECT_TRUE(full("a*", "aaaa"));
  EXPECT_FALSE(full("a+", ""));
  EXPECT_TRUE(full("a+", "aaa"));
  EXPECT_TRUE(full("ab?c", "ac"));
  EXPECT_TRUE(full("ab?c", "abc"));
  EXPECT_FALSE(full("ab?c", "abbc"));
  EXPECT_TRUE(full("a{3}", "aaa"));
  EXPECT_FALSE(full("a{3}", "aa"));
  EXPECT_FALSE(full("a{3}", "aaaa"));
  EXPECT_TRUE(full("a{2,}", "aa"));
  EXPECT_TRUE(full("a{2,}", "aaaaaaa"));
  EXPECT_FALSE(full("a{2,}", "a"));
  EXPECT_TRUE(full("a{2,4}", "aa"));
  EXPECT_TRUE(full("a{2,4}", "aaaa"));
  EXPECT_FALSE(full("a{2,4}", "aaaaa"));
  EXPECT_FALSE(full("a{2,4}", "a"));
  EXPECT_TRUE(full("a{0}", ""));
  EXPECT_TRUE(full("a{0}b", "b"));
  EXPECT_TRUE(full("a{0,0}", ""));
  EXPECT_TRUE(full("a{0,1}", "a"));
  EXPECT_TRUE(full("(ab){2}", "abab"));
  EXPECT_TRUE(full("(?:a|bc){1,3}", "bcabc"));
  EXPECT_TRUE(full("x{1000}", std::string(1000, 'x')));
  EXPECT_FALSE(full("x{1000}", std::string(999, 'x')));
  EXPECT_TRUE(full("x{0,1000}", std::string(1000, 'x')));
  // Lazy forms match the same strings; they change what is captured.
  EXPECT_TRUE(full("a*?", "aaa"));
  EXPECT_TRUE(full("a+?b", "aab"));
  EXPECT_TRUE(full("a??b", "ab"));
  EXPECT_TRUE(full("a{2,3}?", "aaa"));
  EXPECT_TRUE(full("a{2,}?", "aaaa"));
  EXPECT_TRUE(full("a{2}?", "aa"));
  EXPECT_EQ(replace("a*?", "aaa", "-"), "-a-a-a-");
  EXPECT_EQ(replace("a+?", "aaa", "-"), "---");
  EXPECT_EQ(replace("a??", "aa", "-"), "-a-a-");
  EXPECT_EQ(replace("a{2,3}?", "aaaaa", "-"), "--a");
  EXPECT_EQ(replace("a{2,3}", "aaaaa", "-"), "--");
  EXPECT_EQ(replace("<.+?>", "<a><b>", "[$&]"), "[<a>][<b>]");
  EXPECT_EQ(replace("<.+>", "<a><b>", "[$&]"), "[<a><b>]");
}

// ---------------------------------------------------------------------------------
// Captures: leftmost-first, as a backtracking engine gives them

TEST(RegexCaptures, AgreeWithBacktrackingForOrdinaryPatterns) {
  EXPECT_EQ(replace("(\\d+)-(\\d+)-(\\d+)", "2024-05-01", "$3.$2.$1"), "01.05.2024");
  EXPECT_EQ(replace("(a+)(a*)", "aaa", "[$1|$2]"), "[aaa|]");
  EXPECT_EQ(replace("(a+?)(a*)", "aaa", "[$1|$2]"), "[a|aa]");
  EXPECT_EQ(replace("(a*)(a+)", "aaa", "[$1|$2]"), "[aa|a]");
  EXPECT_EQ(replace("(a*?)(a+)", "aaa", "[$1|$2]"), "[|aaa]");
  EXPECT_EQ(replace("(a|ab)(c|bcd)(d*)", "abcd", "[$1|$2|$3]"), "[a|bcd|]");
  EXPECT_EQ(replace("(a|ab)", "ab", "[$1]"), "[a]b");  // the first alternative wins
  EXPECT_EQ(replace("(ab|a)", "ab", "[$1]"), "[ab]");
  EXPECT_EQ(replace("(\\w)+", "abc", "[$1]"), "[c]");  // the last iteration
  EXPECT_EQ(replace("(\\w)*?(\\w)", "abc", "[$1|$2]"), "[|a][|b][|c]");
  EXPECT_EQ(replace("(a)|b", "ab", "[$1]"), "[a][]");  // a group that took no part: empty
  EXPECT_EQ(replace("(a(b)?)+", "aba", "[$1|$2]"), "[a|b]");
  EXPECT_EQ(replace("(.*)=(.*)", "key=val=ue", "$1 -> $2"), "key=val -> ue");
  EXPECT_EQ(replace("(.*?)=(.*)", "key=val=ue", "$1 -> $2"), "key -> val=ue");
  EXPECT_EQ(replace("((a)|(b))+", "ab", "[$1|$2|$3]"), "[b|a|b]");
  EXPECT_EQ(replace("(x?)(x?)(x?)", "xx", "[$1|$2|$3]"), "[x|x|][||]");
  EXPECT_EQ(replace("(\\s*)(\\S+)(\\s*)", "  trim me  ", "<$2>"), "<trim><me>");
  EXPECT_EQ(replace("^\\s+|\\s+$", "  trim me  ", ""), "trim me");
  EXPECT_EQ(replace("([A-Z])", "camelCaseName", "_$1"), "camel_Case_Name");
  EXPECT_EQ(replace("(\\d{3})(\\d{3})(\\d{4})", "5551234567", "($1) $2-$3"), "(555) 123-4567");
  EXPECT_EQ(replace("([^/]+)/([^/]+)", "Patient/123", "$2@$1"), "123@Patient");
  EXPECT_EQ(replace("(?:(a)|b)(c)", "bc ac", "[$1|$2]"), "[|c] [a|c]");
  EXPECT_EQ(replace("(a*)*", "b", "[$1]"), "[]b[]");
  EXPECT_EQ(replace("(a*)+", "aa", "[$1]"), "[aa][]");
}

TEST(RegexCaptures, AfterAnEmptyMatchTheNextSearchStartsOneCodePointOn) {
  EXPECT_EQ(replace("x*", "ab", "-"), "-a-b-");
  EXPECT_EQ(replace("x*", "æø", "-"), "-æ-ø-");
  EXPECT_EQ(replace("x*", "😀", "-"), "-😀-");
  EXPECT_EQ(replace("a*", "baaac", "-"), "-b--c-");
  EXPECT_EQ(replace("b*", "abc", "-"), "-a--c-");
  EXPECT_EQ(replace("x*", "", "-"), "-");
  EXPECT_EQ(replace("a", "", "-"), "");
  EXPECT_EQ(replace("(?:)", "ab", "."), ".a.b.");
}

TEST(RegexReplace, ReplacementSyntax) {
  EXPECT_EQ(replace("b", "abc", "[$&]"), "a[b]c");
  EXPECT_EQ(replace("b", "abc", "[$0]"), "a[b]c");
  EXPECT_EQ(replace("b", "abc", "$$"), "a$c");
  EXPECT_EQ(replace("b", "abc", "$$1"), "a$1c");
  EXPECT_EQ(replace("b", "abc", "$"), "a$c");
  EXPECT_EQ(replace("b", "abc", "x$"), "ax$c");
  EXPECT_EQ(replace("b", "abc", "$x"), "a$xc");
  EXPECT_EQ(replace("b", "abc", "$1"), "a$1c");  // no such group: literal
  EXPECT_EQ(replace("(b)", "abc", "$2"), "a$2c");
  EXPECT_EQ(replace("(b)", "abc", "$1$1"), "abbc");
  EXPECT_EQ(replace("(b)", "abc", "$10"), "ab0c");  // one group: $1 then '0'
  EXPECT_EQ(replace("(b)", "abc", "$01"), "abc");   // $01 is group 1
  EXPECT_EQ(replace("b", "abc", ""), "ac");
  EXPECT_EQ(replace("b", "abc", "æ€😀"), "aæ€😀c");
  EXPECT_EQ(replace("(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)", "abcdefghijk", "$11$10$9$1"), "kjia");
  EXPECT_EQ(replace("(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)", "abcdefghij", "$11"), "a1");
  EXPECT_EQ(replace("(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)", "abcdefghij", "$$10"), "$10");
  EXPECT_EQ(replace("o", "foo boo", "0"), "f00 b00");
  EXPECT_EQ(replace("\\.", "a.b.c", "\\"), "a\\b\\c");
  EXPECT_EQ(replace("", "ab", "-"), "-a-b-");
}

TEST(RegexNamedGroups, TheFhirPathSpecificationExample) {
  // FHIRPath N1 §5.6.10: '11/30/1972'.replaceMatches('\\b(?<month>\\d{1,2})/…', '${day}-${month}-${year}');
  // the FHIRPath literal '\\b' is the two characters \b.
  const std::string pattern = "\\b(?<month>\\d{1,2})/(?<day>\\d{1,2})/(?<year>\\d{2,4})\\b";
  EXPECT_EQ(pattern, R"(\b(?<month>\d{1,2})/(?<day>\d{1,2})/(?<year>\d{2,4})\b)");
  EXPECT_EQ(replace(pattern, "11/30/1972", "${day}-${month}-${year}"), "30-11-1972");
  EXPECT_EQ(replace(pattern, "11/30/1972", "$2-$1-$3"), "30-11-1972");
  EXPECT_EQ(replace(pattern, "born 1/2/03, died 11/30/1972.", "${year}.${month}.${day}"),
            "born 03.1.2, died 1972.11.30.");
  const Regex re = compiled(pattern);
  EXPECT_EQ(re.groupCount(), 3u);
  EXPECT_EQ(re.groupNumber("month"), 1u);
  EXPECT_EQ(re.groupNumber("day"), 2u);
  EXPECT_EQ(re.groupNumber("year"), 3u);
  EXPECT_EQ(re.groupNumber("Year"), std::nullopt);  // names are case-sensitive
  EXPECT_EQ(re.groupNumber(""), std::nullopt);
  EXPECT_TRUE(re.search("on 11/30/1972"));
  EXPECT_FALSE(re.search("11/30/19721"));
  EXPECT_TRUE(re.fullMatch("11/30/1972"));
}

TEST(RegexNamedGroups, NumberedInOrderWithUnnamedGroups) {
  const Regex re = compiled("(a)(?<x>b)(?:c)(d(?P<y>e))(f)");
  EXPECT_EQ(re.groupCount(), 5u);
  EXPECT_EQ(re.groupNumber("x"), 2u);
  EXPECT_EQ(re.groupNumber("y"), 4u);
  EXPECT_EQ(re.groupNumber("a"), std::nullopt);
  EXPECT_EQ(replace("(a)(?<x>b)(?:c)(d(?P<y>e))(f)", "abcdef", "$1|$2|$3|$4|$5|${x}|${y}|${1}|${5}|${0}"),
            "a|b|de|e|f|b|e|a|f|abcdef");
  EXPECT_EQ(replace("(?<first>\\w+) (?<last>\\w+)", "Ada Lovelace", "${last}, ${first}"), "Lovelace, Ada");
  EXPECT_EQ(replace("(?<_a1>x)(?<B_>y)", "xy", "${B_}${_a1}"), "yx");
  // A named group that took no part in the match gives the empty string.
  EXPECT_EQ(replace("(?<a>x)|(?<b>y)", "xy", "[${a}${b}]"), "[x][y]");
  // Repeated: the last iteration, as with unnamed groups.
  EXPECT_EQ(replace("(?<c>[a-z])+", "abc1", "${c}"), "c1");
  // Named groups nest and count towards the group limit.
  EXPECT_EQ(replace("(?<outer>a(?<inner>b)c)", "abc", "${inner}${outer}"), "babc");
  std::string groups;
  for (int k = 0; k < 98; ++k) groups += "(a)";
  EXPECT_EQ(errorOf(groups + "(?<n>a)"), "");
  EXPECT_EQ(errorOf(groups + "(?<n>a)(?<m>b)"), "too many capturing groups (limit 99) at offset 301");
}

TEST(RegexNamedGroups, BracedReferencesInTheReplacement) {
  // ${1}0 is group 1 then '0'; $10 would be group 10 where there is one.
  EXPECT_EQ(replace("(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)", "abcdefghij", "${1}0|$10|${10}"), "a0|j|j");
  EXPECT_EQ(replace("(b)", "abc", "${1}0"), "ab0c");
  EXPECT_EQ(replace("(b)", "abc", "${01}"), "abc");  // leading zeros, as $01
  EXPECT_EQ(replace("(?<n>b)", "abc", "${n}${n}"), "abbc");
  EXPECT_EQ(replace("(?<n>b)", "abc", "${1}"), "abc");
  // Unknown references stay literal, whole.
  EXPECT_EQ(replace("(?<n>b)", "abc", "${m}"), "a${m}c");
  EXPECT_EQ(replace("(?<n>b)", "abc", "${N}"), "a${N}c");
  EXPECT_EQ(replace("(?<n>b)", "abc", "${2}"), "a${2}c");
  EXPECT_EQ(replace("(?<n>b)", "abc", "${99999999999999999999999}"), "a${99999999999999999999999}c");
  EXPECT_EQ(replace("(?<n>b)", "abc", "${}"), "a${}c");
  EXPECT_EQ(replace("(?<n>b)", "abc", "${n"), "a${nc");
  EXPECT_EQ(replace("(?<n>b)", "abc", "${n-1}"), "a${n-1}c");
  EXPECT_EQ(replace("(?<n>b)", "abc", "${ n }"), "a${ n }c");
  EXPECT_EQ(replace("(?<n>b)", "abc", "$n"), "a$nc");         // braces are required
  EXPECT_EQ(replace("(?<n>b)", "abc", "$<n>"), "a$<n>c");     // not ECMAScript's $<name>
  EXPECT_EQ(replace("(?<n>b)", "abc", "$${n}"), "a${n}c");    // $$ is one '$'
  EXPECT_EQ(replace("(?<n>b)", "abc", "${${n}}"), "a${b}c");  // the inner one is a reference
  EXPECT_EQ(replace("b", "abc", "${1}"), "a${1}c");
  EXPECT_EQ(replace("b", "abc", "${0}"), "abc");
  // A long run of '${' without a '}' is scanned in linear time.
  std::string many;
  for (int k = 0; k < 100000; ++k) many += "${n";
  EXPECT_EQ(replace("(?<n>b)", "b", many + "}"), many.substr(0, many.size() - 3) + "b");
}

TEST(RegexNamedGroups, Errors) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"(?<a>x)(?<a>y)", "duplicate group name 'a' at offset 7"},
      {"(?<a>x)(?P<a>y)", "duplicate group name 'a' at offset 7"},
      {"(?<a>(?<a>y))", "duplicate group name 'a' at offset 5"},
      {"(?<a>x)(?<A>y)", ""},  // names are case-sensitive
      {"(?<>x)", "empty group name at offset 3"},
      {"(?P<>x)", "empty group name at offset 4"},
      {"(?<1a>x)", "invalid group name: a name is a letter or '_' followed by letters, digits or '_' at offset 3"},
      {"(?<1>x)", "invalid group name: a name is a letter or '_' followed by letters, digits or '_' at offset 3"},
      {"(?<a-b>x)", "invalid group name: a name is a letter or '_' followed by letters, digits or '_' at offset 4"},
      {"(?<a b>x)", "invalid group name: a name is a letter or '_' followed by letters, digits or '_' at offset 4"},
      {"(?<é>x)", "invalid group name: a name is a letter or '_' followed by letters, digits or '_' at offset 3"},
      {"(?<a)", "invalid group name: a name is a letter or '_' followed by letters, digits or '_' at offset 4"},
      {"(?<abc", "missing '>' after the group name at offset 3"},
      {"(?P<abc", "missing '>' after the group name at offset 4"},
      {"(?<a>x", "missing ')' for the '(' opened at offset 0"},
      {"(?<a>*)", "quantifier '*' has nothing to repeat at offset 5"},
      {"(?<a>)", ""},
      // Named back-references stay unsupported, in every spelling.
      {"(?<a>x)\\k<a>", "back-references are not supported at offset 7"},
      {"(?<a>x)\\k{a}", "back-references are not supported at offset 7"},
      {"(?<a>x)\\k'a'", "back-references are not supported at offset 7"},
      {"(?<a>x)(?P=a)", "back-references are not supported at offset 7"},
      {"[\\k]", "back-references are not supported at offset 1"},
      // Lookbehind is still told apart from a name.
      {"(?<=a)b", "lookbehind assertions are not supported at offset 0"},
      {"(?<!a)b", "lookbehind assertions are not supported at offset 0"},
  };
  for (const auto& [pattern, message] : cases) EXPECT_EQ(errorOf(pattern), message) << pattern;
}

// ---------------------------------------------------------------------------------
// The FHIR R4 core definitions

TEST(RegexFhir, CoreConstraintPatterns) {
  // The patterns in constraint expressions (matches()/replaceMatches() arguments), as the
  // FHIRPath string literals give them after unescaping.
  // *-0 on every canonical resource (name.matches(...)): a computer-friendly name.
  const Regex name = compiled("[A-Z]([A-Za-z0-9_]){0,254}");
  EXPECT_TRUE(name.fullMatch("PatientProfile_2"));
  EXPECT_TRUE(name.search("My profile"));  // matches() finds a match anywhere
  EXPECT_FALSE(name.search("lower case only"));
  EXPECT_TRUE(name.fullMatch("A" + std::string(254, 'b')));
  EXPECT_FALSE(name.fullMatch("A" + std::string(255, 'b')));
  EXPECT_FALSE(name.fullMatch("Æble"));
  EXPECT_EQ(name.groupCount(), 1u);

  // eld-19: path is a list of names.
  const Regex eld19 = compiled(
      "[^\\s\\.,:;\\'\"\\/|?!@#$%&*()\\[\\]{}]{1,64}(\\.[^\\s\\.,:;\\'\"\\/|?!@#$%&*()\\[\\]{}]{1,64}(\\[x\\])?(\\:[^"
      "\\s\\.]+)?)*");
  EXPECT_TRUE(eld19.fullMatch("Patient.name.given"));
  EXPECT_TRUE(eld19.fullMatch("Observation.value[x]"));
  EXPECT_TRUE(eld19.fullMatch("Observation.value[x]:valueQuantity"));
  EXPECT_TRUE(eld19.fullMatch("Pasient.navn.fornavn"));
  EXPECT_TRUE(eld19.fullMatch("Blåbær.søt"));
  EXPECT_FALSE(eld19.fullMatch("Patient..name"));
  EXPECT_FALSE(eld19.fullMatch("Patient.na me"));
  EXPECT_FALSE(eld19.fullMatch("Patient.name(x)"));
  EXPECT_FALSE(eld19.fullMatch(std::string(65, 'a')));
  EXPECT_TRUE(eld19.fullMatch(std::string(64, 'a') + "." + std::string(64, 'b')));
  EXPECT_FALSE(eld19.search(".,:;"));
  EXPECT_EQ(eld19.groupCount(), 3u);

  // eld-20: path names are simple.
  const Regex eld20 = compiled("[A-Za-z][A-Za-z0-9]*(\\.[a-z][A-Za-z0-9]*(\\[x])?)*");
  EXPECT_TRUE(eld20.fullMatch("Observation.value[x]"));
  EXPECT_TRUE(eld20.fullMatch("Patient.contact.name"));
  EXPECT_FALSE(eld20.fullMatch("Patient.Contact"));
  EXPECT_FALSE(eld20.fullMatch("Patient.name[y]"));
  EXPECT_FALSE(eld20.fullMatch("1Patient"));

  // eld-16: sliceName.
  const Regex eld16 = compiled("^[a-zA-Z0-9\\/\\-_\\[\\]\\@]+$");
  EXPECT_TRUE(eld16.search("slice-1_a/b[x]@c"));
  EXPECT_FALSE(eld16.search("slice 1"));
  EXPECT_FALSE(eld16.search("slice.1"));
  EXPECT_FALSE(eld16.search(""));

  // sdf-19: type codes.
  const Regex sdf19a = compiled("^[a-zA-Z0-9]+$");
  const Regex sdf19b = compiled("^[a-zA-Z0-9\\.]+$");
  const Regex sdf19c = compiled("^http:\\/\\/hl7\\.org\\/fhirpath\\/System\\.[A-Z][A-Za-z]+$");
  EXPECT_TRUE(sdf19a.search("CodeableConcept"));
  EXPECT_FALSE(sdf19a.search("Codeable.Concept"));
  EXPECT_TRUE(sdf19b.search("Codeable.Concept"));
  EXPECT_TRUE(sdf19c.search("http://hl7.org/fhirpath/System.String"));
  EXPECT_FALSE(sdf19c.search("http://hl7.org/fhirpath/System.string"));
  EXPECT_FALSE(sdf19c.search("http://hl7xorg/fhirpath/System.String"));
  EXPECT_FALSE(sdf19c.search("http://hl7.org/fhirpath/System.String "));

  // sdf-8a: replaceMatches('\\..*','') keeps the resource type of a path.
  EXPECT_EQ(replace("\\..*", "Patient.name.given", ""), "Patient");
  EXPECT_EQ(replace("\\..*", "Patient", ""), "Patient");
  EXPECT_EQ(replace("\\..*", "Patient.name\n.x", ""), "Patient");  // '.' matches newlines
}

TEST(RegexFhir, CorePrimitiveTypePatterns) {
  // The regex extension values of the primitive types (matched in full, as validators do).
  const Regex id = compiled("[A-Za-z0-9\\-\\.]{1,64}");
  EXPECT_TRUE(id.fullMatch("example"));
  EXPECT_TRUE(id.fullMatch("a-b.c-1"));
  EXPECT_TRUE(id.fullMatch(std::string(64, 'a')));
  EXPECT_FALSE(id.fullMatch(std::string(65, 'a')));
  EXPECT_FALSE(id.fullMatch(""));
  EXPECT_FALSE(id.fullMatch("a_b"));
  EXPECT_FALSE(id.fullMatch("ø"));

  const Regex dateTime = compiled(
      "([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2["
      "0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]+)?(Z|(\\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?");
  for (const char* ok : {"2024", "2024-05", "2024-05-01", "2024-05-01T13:45:00Z", "2024-05-01T13:45:00.123+02:00",
                         "2016-12-31T23:59:60-14:00", "0001"}) {
    EXPECT_TRUE(dateTime.fullMatch(ok)) << ok;
  }
  for (const char* bad : {"0000", "2024-13", "2024-05-32", "2024-05-01T13:45", "2024-05-01T24:00:00Z",
                          "2024-05-01T13:45:00", "2024-05-01T13:45:00+14:30", "24-05-01"}) {
    EXPECT_FALSE(dateTime.fullMatch(bad)) << bad;
  }
  const Regex date = compiled(
      "([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?");
  EXPECT_TRUE(date.fullMatch("1970-01-01"));
  EXPECT_FALSE(date.fullMatch("1970-1-1"));
  const Regex instant = compiled(
      "([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-"
      "3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]+)?(Z|(\\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))");
  EXPECT_TRUE(instant.fullMatch("2015-02-07T13:28:17.239+02:00"));
  EXPECT_FALSE(instant.fullMatch("2015-02-07"));
  const Regex time = compiled("([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]+)?");
  EXPECT_TRUE(time.fullMatch("23:59:59.5"));
  EXPECT_FALSE(time.fullMatch("24:00:00"));
  const Regex base64 = compiled("(\\s*([0-9a-zA-Z\\+/=]){4}\\s*)+");
  EXPECT_TRUE(base64.fullMatch("SGVs bG8g\nV29y bGQ="));
  EXPECT_FALSE(base64.fullMatch("SGVsbG8"));
  const Regex decimal = compiled("-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?");
  for (const char* ok : {"0", "-0", "1.50", "-12.5e-3", "6.02E23"}) EXPECT_TRUE(decimal.fullMatch(ok)) << ok;
  for (const char* bad : {"01", "1.", ".5", "1e", "+1"}) EXPECT_FALSE(decimal.fullMatch(bad)) << bad;
  const Regex integer = compiled("-?([0]|([1-9][0-9]*))");
  EXPECT_TRUE(integer.fullMatch("-2147483648"));
  EXPECT_FALSE(integer.fullMatch("007"));
  const Regex unsignedInt = compiled("[0]|([1-9][0-9]*)");
  EXPECT_TRUE(unsignedInt.fullMatch("0"));
  EXPECT_TRUE(unsignedInt.fullMatch("10"));
  EXPECT_FALSE(unsignedInt.fullMatch("01"));
  const Regex positiveInt = compiled("[1-9][0-9]*");
  EXPECT_FALSE(positiveInt.fullMatch("0"));
  const Regex string = compiled("[ \\r\\n\\t\\S]+");
  EXPECT_TRUE(string.fullMatch("Blåbær\r\n\tsyltetøy"));
  EXPECT_TRUE(string.fullMatch("kr\u00a0100"));  // a no-break space is a valid string
  EXPECT_FALSE(string.fullMatch("a\fb"));
  EXPECT_FALSE(string.fullMatch(""));
  const Regex code = compiled("[^\\s]+(\\s[^\\s]+)*");
  EXPECT_TRUE(code.fullMatch("a code"));
  EXPECT_FALSE(code.fullMatch("a  code"));
  EXPECT_FALSE(code.fullMatch(" code"));
  EXPECT_TRUE(code.fullMatch("a\u00a0code"));
  EXPECT_TRUE(compiled("\\S*").fullMatch("http://example.org/æ"));
  EXPECT_FALSE(compiled("\\S*").fullMatch("a b"));
  const Regex boolean = compiled("true|false");
  EXPECT_TRUE(boolean.fullMatch("false"));
  EXPECT_FALSE(boolean.fullMatch("truefalse"));
  const Regex oid = compiled("urn:oid:[0-2](\\.(0|[1-9][0-9]*))+");
  EXPECT_TRUE(oid.fullMatch("urn:oid:2.16.578.1.12.4.1.4.1"));
  EXPECT_FALSE(oid.fullMatch("urn:oid:2.016"));
  const Regex uuid = compiled("urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
  EXPECT_TRUE(uuid.fullMatch("urn:uuid:c757873d-ec9a-4326-a141-556f43239520"));
  EXPECT_FALSE(uuid.fullMatch("urn:uuid:C757873D-EC9A-4326-A141-556F43239520"));
  // The id pattern nested as in the brief's example of a dotted name.
  const std::string seg = "[^\\s\\.,:;\\'\"\\/|?!@#$%&*()\\[\\]{}]{1,64}";
  const Regex dotted = compiled(seg + "(\\." + seg + "(\\." + seg + "){0,20})?");
  EXPECT_TRUE(dotted.fullMatch("no.helse.fhir.profil"));
  EXPECT_FALSE(dotted.fullMatch("no..helse"));
  EXPECT_LE(dotted.programSize(), Regex::kMaxInstructions);
}

// FHIRPath string literal unescaping (for the patterns read from the package).
std::string unescapeFhirPathString(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 >= s.size()) {
      out += s[i];
      continue;
    }
    char c = s[++i];
    switch (c) {
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'f': out += '\f'; break;
      default: out += c; break;  // \\ \' \" \` \/
    }
  }
  return out;
}

void collectPatterns(const hoa::json::Value& v, std::set<std::string>& constraints, std::set<std::string>& types) {
  if (v.isObject()) {
    if (v.getString("url") == "http://hl7.org/fhir/StructureDefinition/regex") {
      if (const auto* s = v.find("valueString"); s && s->isString()) types.insert(std::string(s->text));
    }
    if (const auto* e = v.find("expression"); e && e->isString() && v.find("key")) {
      std::string_view ex = e->text;
      for (std::string_view fn : {"matches('", "matchesFull('", "replaceMatches('"}) {
        for (size_t at = ex.find(fn); at != std::string_view::npos; at = ex.find(fn, at + 1)) {
          if (at > 0 && fn[0] == 'm' && ex[at - 1] == 'e') continue;  // replaceMatches
          size_t start = at + fn.size(), end = start;
          while (end < ex.size() && ex[end] != '\'') end += ex[end] == '\\' ? 2 : 1;
          constraints.insert(unescapeFhirPathString(ex.substr(start, end - start)));
        }
      }
    }
    for (uint32_t k = 0; k < v.size; ++k) collectPatterns(*v.members[k].value, constraints, types);
  } else if (v.isArray()) {
    for (const auto* item : v) collectPatterns(*item, constraints, types);
  }
}

TEST(RegexFhir, EveryPatternOfTheCorePackageCompiles) {
  const auto dir = hoa::testing::fhirPackageDir();
  if (dir.empty()) GTEST_SKIP() << "FHIR package hl7.fhir.r4.examples#4.0.1 not found: run ./dev setup";
  std::set<std::string> constraints, types;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string file = entry.path().filename().string();
    if (file.rfind("StructureDefinition-", 0) != 0 || entry.path().extension() != ".json") continue;
    std::string text = hoa::testing::readFile(entry.path());
    if (text.find("matches(") == std::string::npos && text.find("Matches(") == std::string::npos &&
        text.find("StructureDefinition/regex\"") == std::string::npos)
      continue;
    hoa::json::Error error;
    auto doc = hoa::json::Document::parse(std::move(text), error);
    ASSERT_TRUE(doc.root()) << file << ": " << error.message;
    collectPatterns(*doc.root(), constraints, types);
  }
  // The tests above cover exactly these.
  const std::set<std::string> expectedConstraints = {
      "[A-Z]([A-Za-z0-9_]){0,254}",
      "[A-Za-z][A-Za-z0-9]*(\\.[a-z][A-Za-z0-9]*(\\[x])?)*",
      "[^\\s\\.,:;\\'\"\\/|?!@#$%&*()\\[\\]{}]{1,64}(\\.[^\\s\\.,:;\\'\"\\/|?!@#$%&*()\\[\\]{}]{1,64}(\\[x\\])?(\\:[^"
      "\\s\\.]+)?)*",
      "\\..*",
      "^[a-zA-Z0-9\\.]+$",
      "^[a-zA-Z0-9\\/\\-_\\[\\]\\@]+$",
      "^[a-zA-Z0-9]+$",
      "^http:\\/\\/hl7\\.org\\/fhirpath\\/System\\.[A-Z][A-Za-z]+$",
  };
  EXPECT_EQ(constraints, expectedConstraints);
  EXPECT_EQ(types.size(), 16u);
  for (const std::string& p : constraints) EXPECT_EQ(errorOf(p), "") << p;
  for (const std::string& p : types) EXPECT_EQ(errorOf(p), "") << p;
}

// ---------------------------------------------------------------------------------
// Pathological patterns: linear time, no recursion, no crash

TEST(RegexCatastrophic, NestedQuantifiersOnOneMegabyte) {
  const std::string xs(1 << 20, 'x');
  const std::string as(1 << 20, 'a');
  const Regex xyz = compiled("(x|y)*z");
  EXPECT_FALSE(xyz.search(xs));
  EXPECT_FALSE(xyz.fullMatch(xs));
  EXPECT_TRUE(xyz.search(xs + "z"));
  const Regex ab = compiled("(a*)*b");
  EXPECT_FALSE(ab.search(as));
  EXPECT_FALSE(ab.fullMatch(as));
  const Regex aaa = compiled("(a|aa)+$");
  EXPECT_TRUE(aaa.search(as));
  EXPECT_TRUE(aaa.fullMatch(as));
  EXPECT_FALSE(aaa.search(as + "b"));
  // replaceAll: one linear search that finds nothing.
  EXPECT_EQ(replace("(x|y)*z", xs, "-").size(), xs.size());
}

TEST(RegexCatastrophic, ClassicExponentialPatternsOnSmallerInput) {
  const std::string as(1 << 14, 'a');
  EXPECT_FALSE(search("(a+)+b", as));
  EXPECT_FALSE(search("(a|a)*b", as));
  EXPECT_FALSE(search("(a?){20}a{20}b", as));
  EXPECT_FALSE(search("(.*a){12}b", as));
  EXPECT_FALSE(search("^(\\w+\\s?)*$", as + "!"));
  EXPECT_FALSE(search("([a-z]+)*[0-9]", as));
  EXPECT_TRUE(search("(a+)+$", as));
  EXPECT_EQ(replace("(a+)+", as, "<$1>"), "<" + as + ">");  // the first iteration takes all
}

TEST(RegexCatastrophic, QuadraticReplacementIsStoppedByTheBudget) {
  // Each match of 'a' follows a scan of 'a.*b' to the end of the text: quadratic.
  const std::string as(1 << 16, 'a');
  EXPECT_FALSE(compiled("a.*b|a").replaceAll(as, "x").has_value());
  // Small input: the same pattern works.
  EXPECT_EQ(replace("a.*b|a", "aaab", "x"), "x");
  EXPECT_EQ(replace("a.*b|a", std::string(1000, 'a'), "x"), std::string(1000, 'x'));
}

TEST(RegexCatastrophic, ManyMatchesInLargeInput) {
  std::string text;
  for (int k = 0; k < 20000; ++k) text += "user" + std::to_string(k) + "@host ";
  const std::string out = replace("(\\w+)@(\\w+)", text, "$2/$1");
  EXPECT_EQ(out.substr(0, 22), "host/user0 host/user1 ");
  EXPECT_EQ(out.size(), text.size());
  const std::string as(1 << 20, 'a');
  EXPECT_EQ(replace("a", as, "bc").size(), 2 * as.size());
  EXPECT_EQ(replace("x*", std::string(1 << 16, 'a'), "").size(), size_t{1} << 16);
}

TEST(RegexCatastrophic, LargestProgramsStayLinear) {
  // A program near the limit, every instruction live at every position: time is text
  // length × program size, nothing worse.
  const Regex big = compiled("(?:[a-z]{0,1000}x){9}");
  EXPECT_GT(big.programSize(), 18000u);
  EXPECT_FALSE(big.search(std::string(1 << 12, 'q')));
  EXPECT_TRUE(big.search(std::string(1 << 12, 'q') + "xxxxxxxxx"));
}

// ---------------------------------------------------------------------------------
// Errors and limits

TEST(RegexErrors, UnsupportedSyntaxIsRejectedWithItsOffset) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"(a)\\1", "back-references are not supported at offset 3"},
      {"(?<n>a)\\k<n>", "back-references are not supported at offset 7"},
      {"(?P<n>a)(?P=n)", "back-references are not supported at offset 8"},
      {"a\\k<n>", "back-references are not supported at offset 1"},
      {"a(?=b)", "lookahead assertions are not supported at offset 1"},
      {"a(?!b)", "lookahead assertions are not supported at offset 1"},
      {"(?<=a)b", "lookbehind assertions are not supported at offset 0"},
      {"(?<!a)b", "lookbehind assertions are not supported at offset 0"},
      {"(?'n'a)", "named groups written (?'name'...) are not supported: write (?<name>...) at offset 0"},
      {"(?P>n)", "unknown group syntax '(?P' (named groups are written (?<name>...) or (?P<name>...)) at offset 0"},
      {"(?>a)", "atomic groups are not supported at offset 0"},
      {"(?#note)", "comments are not supported at offset 0"},
      {"(?i)abc", "inline flags are not supported at offset 0"},
      {"(?-i:a)", "inline flags are not supported at offset 0"},
      {"(?|a)", "unknown group syntax '(?|' at offset 0"},
      {"(?", "unknown group syntax '(?' at offset 0"},
      {"a*+", "possessive quantifiers are not supported at offset 2"},
      {"a++", "possessive quantifiers are not supported at offset 2"},
      {"a?+", "possessive quantifiers are not supported at offset 2"},
      {"a{2}+", "possessive quantifiers are not supported at offset 4"},
      {"a**", "quantifier follows another quantifier at offset 2"},
      {"a*??", "quantifier follows another quantifier at offset 3"},
      {"a{2}{3}", "quantifier follows another quantifier at offset 4"},
      {"*a", "quantifier '*' has nothing to repeat at offset 0"},
      {"a|+", "quantifier '+' has nothing to repeat at offset 2"},
      {"(?)", "unknown group syntax '(?)' at offset 0"},
      {"(?:)?", ""},
      {"(*)", "quantifier '*' has nothing to repeat at offset 1"},
      {"{2}", "quantifier '{' has nothing to repeat at offset 0"},
      {"^*", "quantifier '*' after an assertion: nothing to repeat at offset 1"},
      {"a\\b+", "quantifier '+' after an assertion: nothing to repeat at offset 3"},
      {"a{,5}", "'{,n}' is not supported (engines read it differently): write '{0,n}' at offset 1"},
      {"a{5,2}", "repetition range out of order: the minimum exceeds the maximum at offset 1"},
      {"a{1001}", "repetition count too large (limit 1000) at offset 1"},
      {"a{99999999999999999999}", "repetition count too large (limit 1000) at offset 1"},
      {"a{1,1001}", "repetition count too large (limit 1000) at offset 1"},
      {"(a", "missing ')' for the '(' opened at offset 0"},
      {"a(b(c)", "missing ')' for the '(' opened at offset 1"},
      {"a)", "unmatched ')' at offset 1"},
      {"())", "unmatched ')' at offset 2"},
      {"[a", "missing ']' for the '[' opened at offset 0"},
      {"x[]", "missing ']' for the '[' opened at offset 1"},
      {"[^]", "missing ']' for the '[' opened at offset 0"},
      {"[z-a]", "character class range out of order at offset 1"},
      {"[[:alpha:]]", "POSIX character classes are not supported at offset 1"},
      {"a\\", "the pattern ends with a lone '\\' at offset 1"},
      {"\\p{L}", "Unicode property escapes are not supported at offset 0"},
      {"\\P{L}", "Unicode property escapes are not supported at offset 0"},
      {"\\q", "unsupported escape '\\q' at offset 0"},
      {"\\A", "unsupported escape '\\A' at offset 0"},
      {"a\\z", "unsupported escape '\\z' at offset 1"},
      {"\\cA", "unsupported escape '\\c' at offset 0"},
      {"[\\B]", "unsupported escape '\\B' at offset 1"},
      {"[\\1]", "octal escapes are not supported at offset 1"},
      {"\\01", "octal escapes are not supported at offset 0"},
      {"\\x4", "'\\x' must be followed by two hexadecimal digits at offset 0"},
      {"\\xzz", "'\\x' must be followed by two hexadecimal digits at offset 0"},
      {"\\u12", "'\\u' must be followed by four hexadecimal digits at offset 0"},
      {"\\uD800", "lone surrogate in '\\u' escape (write a pair \\uD8xx\\uDCxx) at offset 0"},
      {"\\uDC00", "lone surrogate in '\\u' escape (write a pair \\uD8xx\\uDCxx) at offset 0"},
      {"ab\xff", "ill-formed UTF-8 in the pattern at offset 2"},
      {"[\xc3]", "ill-formed UTF-8 in the pattern at offset 1"},
  };
  for (const auto& [pattern, message] : cases) EXPECT_EQ(errorOf(pattern), message) << pattern;
}

TEST(RegexErrors, Limits) {
  EXPECT_EQ(errorOf(std::string(4096, 'a')), "");
  EXPECT_EQ(errorOf(std::string(4097, 'a')), "regular expression too long: 4097 bytes (limit 4096)");
  EXPECT_EQ(errorOf("(a{1000}){20}"),
            "regular expression too large (more than 20000 instructions once repetitions are expanded) at offset 1");
  EXPECT_EQ(errorOf("((((a{1000}){1000}){1000}){1000})"),
            "regular expression too large (more than 20000 instructions once repetitions are expanded) at offset 4");
  EXPECT_EQ(errorOf("a{1000}"), "");
  EXPECT_EQ(errorOf("[^\\s.,:;]{1,64}(\\.[^\\s.,:;]{1,64}){0,20}"), "");
  // Nesting.
  auto nested = [](int depth) {
    std::string p;
    for (int k = 0; k < depth; ++k) p += "(?:";
    return p + "a" + std::string(size_t(depth), ')');
  };
  EXPECT_EQ(errorOf(nested(100)), "");
  EXPECT_TRUE(full(nested(100), "a"));
  EXPECT_EQ(errorOf(nested(101)), "parentheses nested too deeply (limit 100) at offset 300");
  EXPECT_EQ(errorOf(std::string(4000, '(')), "too many capturing groups (limit 99) at offset 99");
  EXPECT_EQ(errorOf(std::string(1000, '[')), "missing ']' for the '[' opened at offset 0");
  // Groups.
  std::string groups;
  for (int k = 0; k < 99; ++k) groups += "(a)";
  EXPECT_EQ(errorOf(groups), "");
  EXPECT_EQ(errorOf(groups + "(b)"), "too many capturing groups (limit 99) at offset 297");
  // Captures × program size (memory per step).
  EXPECT_EQ(errorOf(groups + "x{1000}"), "");
  EXPECT_EQ(errorOf(groups + "x{1000}y{1000}z{1000}"),
            "regular expression too large (99 capturing groups in a program of 3300 instructions)");
}

// ---------------------------------------------------------------------------------
// Threads

TEST(RegexThreads, OneRegexSharedByManyThreads) {
  const Regex date = compiled("(\\d{4})-(\\d{2})-(\\d{2})");
  const Regex copy = date;  // copies share the program
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      const Regex& re = t % 2 ? date : copy;
      for (int k = 0; k < 500; ++k) {
        const std::string day = (k % 28 + 1 < 10 ? "0" : "") + std::to_string(k % 28 + 1);
        const std::string text = "born 1990-0" + std::to_string(t + 1) + "-" + day + ".";
        const std::string want = "born " + day + ".0" + std::to_string(t + 1) + ".1990.";
        if (re.replaceAll(text, "$3.$2.$1") != want) ++failures;
        if (!re.search(text) || re.fullMatch(text)) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

// ---------------------------------------------------------------------------------
// Differential: random small patterns against a backtracking reference (below, written
// for the test: continuation-passing, captures restored on backtracking, no reset of
// groups between iterations, as in PCRE and Java) on short texts. Quantifiers repeat only
// what cannot match the empty string: there backtracking engines disagree among
// themselves (see regex.h).

struct Gen {
  enum class Kind : uint8_t { Char, Any, Set, Assert, Concat, Alt, Group, Repeat };
  Kind kind = Kind::Concat;
  std::string text;         // Char: the character; Set: the class as written; Assert: ^ $ \b \B
  size_t group = 0;         // Group: 1-based capture number, 0 for (?:...)
  int min = 0, max = 0;     // Repeat; max < 0: no limit
  bool greedy = true;
  std::vector<Gen> kids;
};

bool isWord(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

bool setContains(const std::string& set, char c) {
  if (set == "[ab]") return c == 'a' || c == 'b';
  if (set == "[^a]") return c != 'a';
  if (set == "[a-c]") return c >= 'a' && c <= 'c';
  if (set == "\\w") return isWord(c);
  if (set == "\\s") return c == ' ';
  if (set == "\\d") return c >= '0' && c <= '9';
  ADD_FAILURE() << set;
  return false;
}

class Backtracker {
 public:
  using Caps = std::vector<std::pair<long, long>>;
  using Cont = std::function<bool(size_t, Caps&)>;
  explicit Backtracker(std::string_view text) : t_(text) {}

  bool match(const Gen& n, size_t pos, Caps& caps, const Cont& k) const {
    switch (n.kind) {
      case Gen::Kind::Char:
        return pos < t_.size() && t_[pos] == n.text[0] && k(pos + 1, caps);
      case Gen::Kind::Any:
        return pos < t_.size() && k(pos + 1, caps);
      case Gen::Kind::Set:
        return pos < t_.size() && setContains(n.text, t_[pos]) && k(pos + 1, caps);
      case Gen::Kind::Assert: {
        const bool before = pos > 0 && isWord(t_[pos - 1]), after = pos < t_.size() && isWord(t_[pos]);
        const bool ok = n.text == "^"   ? pos == 0
                        : n.text == "$" ? pos == t_.size()
                        : n.text == "\\b" ? before != after
                                          : before == after;
        return ok && k(pos, caps);
      }
      case Gen::Kind::Concat:
        return concat(n, 0, pos, caps, k);
      case Gen::Kind::Alt:
        for (const Gen& kid : n.kids) {
          if (match(kid, pos, caps, k)) return true;
        }
        return false;
      case Gen::Kind::Group:
        return match(n.kids[0], pos, caps, [&](size_t end, Caps& c) {
          if (n.group == 0) return k(end, c);
          const auto saved = c[n.group];
          c[n.group] = {long(pos), long(end)};
          if (k(end, c)) return true;
          c[n.group] = saved;
          return false;
        });
      case Gen::Kind::Repeat:
        return repeat(n, 0, pos, caps, k);
    }
    return false;
  }

 private:
  std::string_view t_;

  bool concat(const Gen& n, size_t i, size_t pos, Caps& caps, const Cont& k) const {
    if (i == n.kids.size()) return k(pos, caps);
    return match(n.kids[i], pos, caps, [&](size_t p, Caps& c) { return concat(n, i + 1, p, c, k); });
  }
  bool repeat(const Gen& n, int count, size_t pos, Caps& caps, const Cont& k) const {
    auto more = [&] {
      return match(n.kids[0], pos, caps, [&](size_t p, Caps& c) { return repeat(n, count + 1, p, c, k); });
    };
    if (count < n.min) return more();
    if (count == n.max) return k(pos, caps);
    return n.greedy ? more() || k(pos, caps) : k(pos, caps) || more();
  }
};

class PatternGen {
 public:
  explicit PatternGen(uint32_t seed) : rng_(seed) {}
  // A random tree; groups() then says how many capturing groups it has.
  Gen pattern() {
    groups_ = 0;
    bool nullable = false;
    return alternation(0, nullable);
  }
  size_t groups() const { return groups_; }
  std::string text() {
    std::string s;
    const int n = pick(9);
    for (int k = 0; k < n; ++k) s += "abca 1"[pick(6)];
    return s;
  }
  static std::string render(const Gen& n) {
    switch (n.kind) {
      case Gen::Kind::Char:
      case Gen::Kind::Set:
      case Gen::Kind::Assert:
        return n.text;
      case Gen::Kind::Any:
        return ".";
      case Gen::Kind::Concat: {
        std::string s;
        for (const Gen& k : n.kids) s += render(k);
        return s;
      }
      case Gen::Kind::Alt: {
        std::string s;
        for (size_t k = 0; k < n.kids.size(); ++k) s += (k ? "|" : "") + render(n.kids[k]);
        return s;
      }
      case Gen::Kind::Group:
        return (n.group ? "(" : "(?:") + render(n.kids[0]) + ")";
      case Gen::Kind::Repeat: {
        std::string q = n.min == 0 && n.max < 0   ? "*"
                        : n.min == 1 && n.max < 0 ? "+"
                        : n.min == 0 && n.max == 1 ? "?"
                        : n.max < 0               ? "{" + std::to_string(n.min) + ",}"
                        : n.min == n.max          ? "{" + std::to_string(n.min) + "}"
                                                  : "{" + std::to_string(n.min) + "," + std::to_string(n.max) + "}";
        return render(n.kids[0]) + q + (n.greedy ? "" : "?");
      }
    }
    return {};
  }

 private:
  std::mt19937 rng_;
  size_t groups_ = 0;
  int pick(int n) { return int(rng_() % uint32_t(n)); }

  // Each sets nullable: whether what it made can match the empty string.
  Gen alternation(int depth, bool& nullable) {
    Gen alt;
    alt.kind = Gen::Kind::Alt;
    alt.kids.push_back(concat(depth, nullable));
    while (pick(4) == 0) {
      bool n = false;
      alt.kids.push_back(concat(depth, n));
      nullable = nullable || n;
    }
    return alt;
  }
  Gen concat(int depth, bool& nullable) {
    Gen c;
    c.kind = Gen::Kind::Concat;
    nullable = true;
    const int n = (depth ? 0 : 1) + pick(3);
    for (int k = 0; k < n; ++k) {
      bool q = false;
      c.kids.push_back(quantified(depth, q));
      nullable = nullable && q;
    }
    return c;
  }
  Gen quantified(int depth, bool& nullable) {
    Gen a = atom(depth, nullable);
    if (nullable || pick(3) == 0) return a;
    static const int bounds[][2] = {{0, -1}, {1, -1}, {0, 1}, {2, 2}, {1, 2}, {0, 2}, {2, -1}, {0, 3}};
    const auto& b = bounds[pick(int(std::size(bounds)))];
    Gen r;
    r.kind = Gen::Kind::Repeat;
    r.min = b[0];
    r.max = b[1];
    r.greedy = pick(3) != 0;
    r.kids.push_back(std::move(a));
    nullable = r.min == 0;
    return r;
  }
  Gen atom(int depth, bool& nullable) {
    Gen g;
    nullable = false;
    const int r = pick(depth < 3 ? 13 : 9);
    if (r < 4) {
      g.kind = Gen::Kind::Char;
      g.text = std::string(1, "abca"[r]);
    } else if (r == 4) {
      g.kind = Gen::Kind::Any;
    } else if (r < 7) {
      static const char* const sets[] = {"[ab]", "[^a]", "[a-c]", "\\w", "\\s", "\\d"};
      g.kind = Gen::Kind::Set;
      g.text = sets[pick(6)];
    } else if (r < 9) {
      static const char* const asserts[] = {"^", "$", "\\b", "\\B"};
      g.kind = Gen::Kind::Assert;
      g.text = asserts[pick(4)];
      nullable = true;
    } else {
      g.kind = Gen::Kind::Group;
      if (r >= 11) g.group = ++groups_;
      g.kids.push_back(alternation(depth + 1, nullable));
    }
    return g;
  }
};

// replaceAll() done with the reference: leftmost start, then the first match in priority.
std::string referenceReplace(const Gen& root, size_t groups, const std::string& text) {
  Backtracker bt(text);
  std::string out;
  size_t pos = 0;
  while (pos <= text.size()) {
    Backtracker::Caps found;
    size_t start = 0, end = 0;
    bool matched = false;
    for (start = pos; start <= text.size() && !matched; ++start) {
      Backtracker::Caps caps(groups + 1, {-1, -1});
      matched = bt.match(root, start, caps, [&](size_t e, Backtracker::Caps& c) {
        end = e;
        found = c;
        return true;
      });
    }
    if (!matched) break;
    --start;
    out += text.substr(pos, start - pos);
    // rep is "<$&|$1|$2…>".
    out += "<" + text.substr(start, end - start);
    for (size_t g = 1; g <= groups && g <= 3; ++g) {
      out += "|";
      if (found[g].first >= 0) out += text.substr(size_t(found[g].first), size_t(found[g].second - found[g].first));
    }
    out += ">";
    if (end > start) {
      pos = end;
    } else if (start < text.size()) {
      out += text[start];
      pos = start + 1;
    } else {
      pos = text.size() + 1;
    }
  }
  if (pos <= text.size()) out += text.substr(pos);
  return out;
}

TEST(RegexDifferential, AgreesWithABacktrackingReferenceOnRandomSmallPatterns) {
  PatternGen gen(20240501);
  int compared = 0;
  for (int k = 0; k < 3000; ++k) {
    const Gen root = gen.pattern();
    const std::string pattern = PatternGen::render(root);
    std::string error;
    auto re = Regex::compile(pattern, error);
    ASSERT_TRUE(re) << pattern << ": " << error;
    ASSERT_EQ(re->groupCount(), gen.groups()) << pattern;
    std::string rep = "<$&";
    for (size_t g = 1; g <= std::min<size_t>(gen.groups(), 3); ++g) rep += "|$" + std::to_string(g);
    rep += ">";
    for (int t = 0; t < 8; ++t) {
      const std::string text = gen.text();
      Backtracker bt(text);
      Backtracker::Caps caps(gen.groups() + 1, {-1, -1});
      bool found = false;
      for (size_t start = 0; start <= text.size() && !found; ++start)
        found = bt.match(root, start, caps, [](size_t, Backtracker::Caps&) { return true; });
      const bool whole = bt.match(root, 0, caps, [&](size_t e, Backtracker::Caps&) { return e == text.size(); });
      ASSERT_EQ(re->search(text), found) << pattern << " on '" << text << "'";
      ASSERT_EQ(re->fullMatch(text), whole) << pattern << " on '" << text << "'";
      ASSERT_EQ(re->replaceAll(text, rep).value_or("<over budget>"), referenceReplace(root, gen.groups(), text))
          << pattern << " on '" << text << "' with " << rep;
      ++compared;
    }
  }
  EXPECT_EQ(compared, 3000 * 8);
}

}  // namespace
