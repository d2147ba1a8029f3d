#include "mappings/norwegian_id.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <optional>
#include <set>
#include <string>

// No real person's number appears here. Real-format numbers (fødselsnummer, D- and
// H-numbers without the synthetic mark) use birth dates from 2027 to 2039 with individual
// numbers 500–999, which have not been issued yet; every other number is synthetic
// (month + 80), which the population register never issues to a person.

namespace hoa::clinic {
namespace {

// ---------------------------------------------------------------------------------------
// Test-side generator, written independently of the code under test.

// The nine digits with both mod-11 check digits appended, or nullopt when a check digit
// would be 10 (no valid number has this prefix).
std::optional<std::string> withCheckDigits(const std::string& nine) {
  static const std::string kW1 = "376189452";
  static const std::string kW2 = "5432765432";
  std::string n = nine;
  for (const std::string* weights : {&kW1, &kW2}) {
    int sum = 0;
    for (size_t i = 0; i < weights->size(); ++i) sum += (n[i] - '0') * ((*weights)[i] - '0');
    const int k = (11 - sum % 11) % 11;
    if (k == 10) return std::nullopt;
    n += static_cast<char>('0' + k);
  }
  return n;
}

std::string nineDigits(int dd, int mm, int yy, int individual) {
  char buf[48];  // room for any int, so -Wformat-truncation stays quiet
  std::snprintf(buf, sizeof buf, "%02d%02d%02d%03d", dd, mm, yy, individual);
  return buf;
}

// The number with these fields, or nullopt when no check digits exist for it.
std::optional<std::string> make(int dd, int mm, int yy, int individual) {
  return withCheckDigits(nineDigits(dd, mm, yy, individual));
}

// The first valid number with an individual number in [lo, hi].
std::string firstValid(int dd, int mm, int yy, int lo, int hi) {
  for (int i = lo; i <= hi; ++i)
    if (auto n = make(dd, mm, yy, i)) return *n;
  ADD_FAILURE() << "no valid number for " << nineDigits(dd, mm, yy, lo) << ".." << hi;
  return "";
}

Date ymd(int y, int m, int d) {
  return Date::fromYmd(y, m, d).value();
}

const NationalIdOptions kAllowTestData{.allowSynthetic = true};

// ---------------------------------------------------------------------------------------

// Checked by hand, e.g. 290236512: 3·2+7·9+6·0+1·2+8·3+9·6+4·5+5·1+2·2 = 178, 178 mod 11 = 2,
// k1 = 9; then 5·2+4·9+3·0+2·2+7·3+6·6+5·5+4·1+3·2+2·9 = 160, 160 mod 11 = 6, k2 = 5.
TEST(NationalId, AcceptsHandVerifiedNumbers) {
  struct Case {
    const char* number;
    NationalIdKind kind;
    bool synthetic;
    Date birth;
  };
  const Case cases[] = {
      {"29023651295", NationalIdKind::Fnr, false, ymd(2036, 2, 29)},
      {"31083950059", NationalIdKind::Fnr, false, ymd(2039, 8, 31)},
      {"10433161233", NationalIdKind::HNumber, false, ymd(2031, 3, 10)},
      {"55868512392", NationalIdKind::DNumber, true, ymd(1985, 6, 15)},
      {"01817060079", NationalIdKind::Fnr, true, ymd(1870, 1, 1)},
      {"01815095088", NationalIdKind::Fnr, true, ymd(1950, 1, 1)},
  };
  for (const Case& c : cases) {
    const NationalIdResult r = checkNationalId(c.number, kAllowTestData);
    EXPECT_TRUE(r.ok()) << c.number << ": " << toString(r.error);
    EXPECT_EQ(r.kind, c.kind) << c.number;
    EXPECT_EQ(r.synthetic, c.synthetic) << c.number;
    EXPECT_EQ(r.birthDate, c.birth) << c.number;
  }
}

TEST(NationalId, TestGeneratorReproducesHandVerifiedNumbers) {
  EXPECT_EQ(make(29, 2, 36, 512), "29023651295");
  EXPECT_EQ(make(31, 8, 39, 500), "31083950059");
  EXPECT_EQ(make(10, 43, 31, 612), "10433161233");
  EXPECT_EQ(make(55, 86, 85, 123), "55868512392");
  // 158685123: the weighted sum is 221 = 11·20 + 1, so k1 would be 10.
  EXPECT_EQ(make(15, 86, 85, 123), std::nullopt);
}

TEST(NationalId, RefusesWrongLength) {
  for (std::string_view s : {"", "2902365129", "290236512955", "290236 51295", " 29023651295"})
    EXPECT_EQ(checkNationalId(s).error, NationalIdError::WrongLength) << '"' << s << '"';
}

TEST(NationalId, RefusesNonDigits) {
  const std::string withNul = std::string("29023") + '\0' + "51295";
  for (std::string_view s : {std::string_view("2902365129a"), std::string_view("29O23651295"),
                             std::string_view("2902-365129"), std::string_view("-2902365129"),
                             std::string_view("+2902365129"), std::string_view(withNul)})
    EXPECT_EQ(checkNationalId(s).error, NationalIdError::NotDigits) << s;
}

TEST(NationalId, DetectsEverySingleDigitError) {
  // mod 11 is prime and no weight is 0, so any one changed digit breaks a check digit.
  for (const std::string valid : {"29023651295", "31083950059", "10433161233"}) {
    ASSERT_TRUE(checkNationalId(valid).ok());
    for (size_t pos = 0; pos < valid.size(); ++pos) {
      for (char c = '0'; c <= '9'; ++c) {
        if (c == valid[pos]) continue;
        std::string wrong = valid;
        wrong[pos] = c;
        EXPECT_EQ(checkNationalId(wrong, kAllowTestData).error,
                  pos < 10 ? NationalIdError::BadCheckDigit1 : NationalIdError::BadCheckDigit2)
            << wrong;
      }
    }
  }
}

TEST(NationalId, DetectsAdjacentTranspositionsInTheFirstNineDigits) {
  // Neighbouring weights of the first check digit all differ mod 11.
  for (const std::string valid : {"29023651295", "31083950059", "10433161233"}) {
    for (size_t pos = 0; pos + 1 < 9; ++pos) {
      if (valid[pos] == valid[pos + 1]) continue;
      std::string swapped = valid;
      std::swap(swapped[pos], swapped[pos + 1]);
      EXPECT_EQ(checkNationalId(swapped, kAllowTestData).error, NationalIdError::BadCheckDigit1)
          << swapped;
    }
  }
}

TEST(NationalId, ComputedCheckDigitTenMakesEveryCompletionInvalid) {
  bool sawK1Ten = false;
  bool sawK2Ten = false;
  for (int individual = 500; individual <= 999 && !(sawK1Ten && sawK2Ten); ++individual) {
    const std::string nine = nineDigits(1, 1, 30, individual);
    if (withCheckDigits(nine)) continue;
    // Which check digit was impossible? Try every k1.
    bool k1Possible = false;
    for (char k1 = '0'; k1 <= '9'; ++k1) {
      for (char k2 = '0'; k2 <= '9'; ++k2) {
        const NationalIdResult r = checkNationalId(nine + k1 + k2);
        ASSERT_FALSE(r.ok()) << nine + k1 + k2;
        if (r.error == NationalIdError::BadCheckDigit2) k1Possible = true;
        ASSERT_TRUE(r.error == NationalIdError::BadCheckDigit1 ||
                    r.error == NationalIdError::BadCheckDigit2);
      }
    }
    (k1Possible ? sawK2Ten : sawK1Ten) = true;
  }
  EXPECT_TRUE(sawK1Ten);
  EXPECT_TRUE(sawK2Ten);
}

TEST(NationalId, DecodesEveryDayFrom2027To2039) {
  int checked = 0;
  for (Date day = ymd(2027, 1, 1); day <= ymd(2039, 12, 31); day = day.addDays(1)) {
    const int yy = day.year() % 100;
    for (int individual : {500, 617, 749, 750, 899, 900, 999}) {
      struct Variant {
        int dd, mm;
        NationalIdKind kind;
      };
      for (const Variant& v : {Variant{day.day(), day.month(), NationalIdKind::Fnr},
                               Variant{day.day() + 40, day.month(), NationalIdKind::DNumber},
                               Variant{day.day(), day.month() + 40, NationalIdKind::HNumber}}) {
        const std::optional<std::string> number = make(v.dd, v.mm, yy, individual);
        if (!number) continue;
        const NationalIdResult r = checkNationalId(*number);
        ASSERT_TRUE(r.ok()) << *number << ": " << toString(r.error);
        ASSERT_EQ(r.kind, v.kind) << *number;
        ASSERT_FALSE(r.synthetic) << *number;
        ASSERT_EQ(r.birthDate, day) << *number;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 50000);
}

TEST(NationalId, LeapDays) {
  EXPECT_TRUE(checkNationalId(firstValid(29, 2, 36, 500, 999)).ok());  // 2036 is a leap year
  EXPECT_TRUE(checkNationalId(firstValid(69, 2, 32, 500, 999)).ok());  // D-number, 2032
  EXPECT_EQ(checkNationalId(firstValid(29, 2, 37, 500, 999)).error, NationalIdError::InvalidDate);
  EXPECT_EQ(checkNationalId(firstValid(69, 2, 37, 500, 999)).error, NationalIdError::InvalidDate);
  EXPECT_EQ(checkNationalId(firstValid(30, 2, 36, 500, 999)).error, NationalIdError::InvalidDate);

  // Century years via synthetic numbers: 2000 is a leap year, 1900 is not.
  const NationalIdResult y2000 = checkNationalId(firstValid(29, 82, 0, 500, 999), kAllowTestData);
  EXPECT_TRUE(y2000.ok());
  EXPECT_EQ(y2000.birthDate, ymd(2000, 2, 29));
  EXPECT_EQ(checkNationalId(firstValid(29, 82, 0, 0, 499), kAllowTestData).error,
            NationalIdError::InvalidDate);  // 1900-02-29
  const NationalIdResult y1896 = checkNationalId(firstValid(29, 82, 96, 500, 749), kAllowTestData);
  EXPECT_TRUE(y1896.ok());
  EXPECT_EQ(y1896.birthDate, ymd(1896, 2, 29));
  EXPECT_EQ(checkNationalId(firstValid(29, 82, 97, 0, 499), kAllowTestData).error,
            NationalIdError::InvalidDate);  // 1997-02-29
}

TEST(NationalId, CenturyRules) {
  struct Case {
    int yy, lo, hi;
    std::optional<int> year;
  };
  const Case cases[] = {
      {70, 0, 499, 1970},           {70, 500, 749, 1870}, {70, 750, 899, std::nullopt},
      {70, 900, 999, 1970},         {54, 500, 749, 1854}, {53, 500, 749, std::nullopt},
      {99, 500, 749, 1899},         {20, 500, 999, 2020}, {39, 500, 999, 2039},
      {40, 500, 899, std::nullopt}, {40, 900, 999, 1940}, {0, 0, 499, 1900},
      {0, 500, 999, 2000},
  };
  for (const Case& c : cases) {
    const std::string number = firstValid(15, 86, c.yy, c.lo, c.hi);  // synthetic 15 June
    const NationalIdResult r = checkNationalId(number, kAllowTestData);
    if (c.year) {
      EXPECT_TRUE(r.ok()) << number << ": " << toString(r.error);
      EXPECT_EQ(r.birthDate, ymd(*c.year, 6, 15)) << number;
    } else {
      EXPECT_EQ(r.error, NationalIdError::InvalidDate) << number;
    }
  }
}

// The century table written as ranges, independently of the implementation's branches.
std::optional<int> expectedYear(int yy, int individual) {
  struct Rule {
    int lo, hi, yyLo, yyHi, century;
  };
  static constexpr Rule kRules[] = {
      {0, 499, 0, 99, 1900},
      {500, 749, 54, 99, 1800},
      {500, 999, 0, 39, 2000},
      {900, 999, 40, 99, 1900},
  };
  for (const Rule& r : kRules)
    if (individual >= r.lo && individual <= r.hi && yy >= r.yyLo && yy <= r.yyHi)
      return r.century + yy;
  return std::nullopt;
}

TEST(NationalId, CenturyRulesForEveryIndividualNumber) {
  for (int yy : {0, 1, 38, 39, 40, 41, 53, 54, 55, 98, 99}) {
    for (int individual = 0; individual <= 999; ++individual) {
      const std::optional<std::string> number = make(1, 81, yy, individual);  // synthetic 1 Jan
      if (!number) continue;
      const NationalIdResult r = checkNationalId(*number, kAllowTestData);
      const std::optional<int> year = expectedYear(yy, individual);
      if (year) {
        ASSERT_TRUE(r.ok()) << *number;
        ASSERT_EQ(r.birthDate, ymd(*year, 1, 1)) << *number;
      } else {
        ASSERT_EQ(r.error, NationalIdError::InvalidDate) << *number;
      }
    }
  }
}

TEST(NationalId, RefusesImpossibleDates) {
  struct Case {
    int dd, mm;
    const char* why;
  };
  const Case cases[] = {
      {0, 6, "day 0"},
      {32, 1, "day 32"},
      {31, 4, "31 April"},
      {1, 0, "month 0"},
      {1, 13, "month 13"},
      {40, 6, "D-number day 0"},
      {72, 1, "D-number day 32"},
      {80, 1, "day 80"},
      {1, 40, "H-number month 0"},
      {1, 53, "H-number month 13"},
      {1, 80, "synthetic month 0"},
      {1, 93, "synthetic month 13"},
      {41, 41, "D-number and H-number together"},
      {1, 99, "month 99"},
  };
  for (const Case& c : cases) {
    const std::string number = firstValid(c.dd, c.mm, 33, 500, 999);
    const NationalIdResult r = checkNationalId(number, kAllowTestData);
    EXPECT_EQ(r.error, NationalIdError::InvalidDate) << number << " (" << c.why << ")";
    EXPECT_FALSE(r.birthDate.has_value()) << number;
  }
}

TEST(NationalId, CheckDigitErrorsAreReportedBeforeDateErrors) {
  std::string number = firstValid(31, 4, 33, 500, 999);  // 31 April
  number[9] = number[9] == '0' ? '1' : '0';
  EXPECT_EQ(checkNationalId(number).error, NationalIdError::BadCheckDigit1);
}

TEST(NationalId, DNumbers) {
  for (int day : {1, 15, 31}) {
    const std::string number = firstValid(day + 40, 1, 35, 500, 999);
    const NationalIdResult r = checkNationalId(number);
    EXPECT_TRUE(r.ok()) << number << ": " << toString(r.error);
    EXPECT_EQ(r.kind, NationalIdKind::DNumber);
    EXPECT_EQ(r.birthDate, ymd(2035, 1, day));
  }
}

TEST(NationalId, HNumbers) {
  for (int month : {1, 7, 12}) {
    const std::string number = firstValid(20, month + 40, 35, 500, 999);
    const NationalIdResult r = checkNationalId(number);
    EXPECT_TRUE(r.ok()) << number << ": " << toString(r.error);
    EXPECT_EQ(r.kind, NationalIdKind::HNumber);
    EXPECT_FALSE(r.synthetic);
    EXPECT_EQ(r.birthDate, ymd(2035, month, 20));
  }
}

TEST(NationalId, SyntheticNumbersNeedTestDataAllowed) {
  for (const char* number : {"55868512392", "01817060079", "01815095088"}) {
    const NationalIdResult refused = checkNationalId(number);  // default: no test data
    EXPECT_EQ(refused.error, NationalIdError::SyntheticNotAllowed) << number;
    EXPECT_FALSE(refused.ok());
    // Still decoded, so the caller can say what it was.
    EXPECT_TRUE(refused.synthetic);
    EXPECT_TRUE(refused.birthDate.has_value());

    const NationalIdResult allowed = checkNationalId(number, kAllowTestData);
    EXPECT_TRUE(allowed.ok()) << number;
    EXPECT_TRUE(allowed.synthetic);
  }
  // Synthetic D-number: day + 40 and month + 80.
  const NationalIdResult d = checkNationalId("55868512392", kAllowTestData);
  EXPECT_EQ(d.kind, NationalIdKind::DNumber);
  EXPECT_EQ(d.birthDate, ymd(1985, 6, 15));
}

TEST(NationalId, RealFormatNumbersAreNotSynthetic) {
  const NationalIdResult r = checkNationalId("29023651295", kAllowTestData);
  EXPECT_TRUE(r.ok());
  EXPECT_FALSE(r.synthetic);
  EXPECT_EQ(r.kind, NationalIdKind::Fnr);
}

TEST(NationalId, GenderDigit) {
  // 9th digit of 29023651295 is 2 (even); of 55868512392 it is 3 (odd).
  EXPECT_EQ(genderDigitOf("29023651295"), Gender::Female);
  EXPECT_EQ(genderDigitOf("55868512392"), Gender::Male);
  for (int individual = 500; individual <= 520; ++individual) {
    if (auto n = make(1, 1, 30, individual)) {
      EXPECT_EQ(genderDigitOf(*n), individual % 2 ? Gender::Male : Gender::Female) << *n;
    }
  }
  EXPECT_EQ(genderDigitOf(""), std::nullopt);
  EXPECT_EQ(genderDigitOf("2902365129"), std::nullopt);
  EXPECT_EQ(genderDigitOf("29023651a95"), std::nullopt);
}

TEST(NationalId, ErrorTokensAreDistinct) {
  std::set<std::string_view> tokens;
  for (NationalIdError e :
       {NationalIdError::None, NationalIdError::WrongLength, NationalIdError::NotDigits,
        NationalIdError::BadCheckDigit1, NationalIdError::BadCheckDigit2,
        NationalIdError::InvalidDate, NationalIdError::SyntheticNotAllowed})
    tokens.insert(toString(e));
  EXPECT_EQ(tokens.size(), 7u);
  EXPECT_EQ(toString(NationalIdError::BadCheckDigit2), "bad-check-digit-2");
}

}  // namespace
}  // namespace hoa::clinic
