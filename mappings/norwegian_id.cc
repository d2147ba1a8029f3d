#include "mappings/norwegian_id.h"

#include <array>

namespace hoa::clinic {

namespace {

constexpr size_t kLength = 11;
constexpr std::array<int, 9> kWeights1 = {3, 7, 6, 1, 8, 9, 4, 5, 2};
constexpr std::array<int, 10> kWeights2 = {5, 4, 3, 2, 7, 6, 5, 4, 3, 2};

constexpr int kDNumberDayOffset = 40;
constexpr int kHNumberMonthOffset = 40;
constexpr int kSyntheticMonthOffset = 80;

bool allDigits(std::string_view s) {
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// mod-11 check digit over digits[0..N); 10 means "no valid check digit exists".
template <size_t N>
int checkDigit(const std::array<int, kLength>& digits, const std::array<int, N>& weights) {
  int sum = 0;
  for (size_t i = 0; i < N; ++i) sum += digits[i] * weights[i];
  const int k = 11 - sum % 11;
  return k == 11 ? 0 : k;
}

// The full year for a two-digit year and individual number, or nullopt when the
// individual number is not issued for any century with that year.
std::optional<int> fullYear(int yy, int individual) {
  if (individual <= 499) return 1900 + yy;
  if (individual <= 749 && yy >= 54) return 1800 + yy;
  if (yy <= 39) return 2000 + yy;           // 500–999
  if (individual >= 900) return 1900 + yy;  // YY 40–99
  return std::nullopt;
}

}  // namespace

NationalIdResult checkNationalId(std::string_view number, const NationalIdOptions& options) {
  NationalIdResult result;
  if (number.size() != kLength) {
    result.error = NationalIdError::WrongLength;
    return result;
  }
  if (!allDigits(number)) {
    result.error = NationalIdError::NotDigits;
    return result;
  }
  std::array<int, kLength> d{};
  for (size_t i = 0; i < kLength; ++i) d[i] = number[i] - '0';

  const int k1 = checkDigit(d, kWeights1);
  if (k1 == 10 || k1 != d[9]) {
    result.error = NationalIdError::BadCheckDigit1;
    return result;
  }
  const int k2 = checkDigit(d, kWeights2);
  if (k2 == 10 || k2 != d[10]) {
    result.error = NationalIdError::BadCheckDigit2;
    return result;
  }

  int day = d[0] * 10 + d[1];
  int month = d[2] * 10 + d[3];
  const int yy = d[4] * 10 + d[5];
  const int individual = d[6] * 100 + d[7] * 10 + d[8];

  const bool dNumber = day > kDNumberDayOffset;
  if (dNumber) day -= kDNumberDayOffset;
  const bool synthetic = month > kSyntheticMonthOffset;
  if (synthetic) month -= kSyntheticMonthOffset;
  const bool hNumber = month > kHNumberMonthOffset;
  if (hNumber) month -= kHNumberMonthOffset;

  const std::optional<int> year = fullYear(yy, individual);
  const std::optional<Date> birth =
      (dNumber && hNumber) || !year ? std::nullopt : Date::fromYmd(*year, month, day);
  if (!birth) {
    result.error = NationalIdError::InvalidDate;
    return result;
  }
  result.kind = dNumber   ? NationalIdKind::DNumber
                : hNumber ? NationalIdKind::HNumber
                          : NationalIdKind::Fnr;
  result.synthetic = synthetic;
  result.birthDate = birth;
  if (synthetic && !options.allowSynthetic) result.error = NationalIdError::SyntheticNotAllowed;
  return result;
}

std::string_view toString(NationalIdError error) {
  switch (error) {
    case NationalIdError::None:
      return "none";
    case NationalIdError::WrongLength:
      return "wrong-length";
    case NationalIdError::NotDigits:
      return "not-digits";
    case NationalIdError::BadCheckDigit1:
      return "bad-check-digit-1";
    case NationalIdError::BadCheckDigit2:
      return "bad-check-digit-2";
    case NationalIdError::InvalidDate:
      return "invalid-date";
    case NationalIdError::SyntheticNotAllowed:
      return "synthetic-not-allowed";
  }
  return "unknown";
}

std::optional<Gender> genderDigitOf(std::string_view number) {
  if (number.size() != kLength || !allDigits(number)) return std::nullopt;
  return (number[8] - '0') % 2 == 1 ? Gender::Male : Gender::Female;
}

}  // namespace hoa::clinic
