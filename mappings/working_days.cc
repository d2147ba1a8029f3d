#include "mappings/working_days.h"

#include <algorithm>
#include <cstdio>

namespace hoa::clinic {

namespace {

using std::chrono::sys_days;
using std::chrono::year_month_day;

constexpr int32_t kEarliestDays = static_cast<int32_t>(
    sys_days{std::chrono::year{Date::kMinYear} / 1 / 1}.time_since_epoch().count());
constexpr int32_t kLatestDays = static_cast<int32_t>(
    sys_days{std::chrono::year{Date::kMaxYear} / 12 / 31}.time_since_epoch().count());

bool isWeekend(std::chrono::weekday wd) {
  return wd == std::chrono::Saturday || wd == std::chrono::Sunday;
}

// Reads exactly `n` ASCII digits; std::from_chars would also accept what follows.
std::optional<int> readDigits(std::string_view s, size_t pos, size_t n) {
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

// The holiday name for `date` given that year's Easter Sunday (so loops over many days
// compute Easter once per year).
std::optional<std::string_view> holidayName(Date date, Date easter) {
  const int m = date.month();
  const int d = date.day();
  if (m == 1 && d == 1) return "1. nyttårsdag";
  if (m == 5 && d == 1) return "Offentlig høytidsdag";
  if (m == 5 && d == 17) return "Grunnlovsdag";
  if (m == 12 && d == 25) return "1. juledag";
  if (m == 12 && d == 26) return "2. juledag";
  switch (easter.daysUntil(date)) {
    case -3:
      return "Skjærtorsdag";
    case -2:
      return "Langfredag";
    case 0:
      return "1. påskedag";
    case 1:
      return "2. påskedag";
    case 39:
      return "Kristi himmelfartsdag";
    case 49:
      return "1. pinsedag";
    case 50:
      return "2. pinsedag";
    default:
      return std::nullopt;
  }
}

}  // namespace

std::optional<Date> Date::fromSysDays(sys_days days) {
  const auto n = days.time_since_epoch().count();
  if (n < kEarliestDays || n > kLatestDays) return std::nullopt;
  return Date(static_cast<int32_t>(n));
}

std::optional<Date> Date::fromYmd(int year, int month, int day) {
  if (year < kMinYear || year > kMaxYear || month < 1 || month > 12 || day < 1 || day > 31)
    return std::nullopt;
  const year_month_day ymd{std::chrono::year{year},
                           std::chrono::month{static_cast<unsigned>(month)},
                           std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return std::nullopt;
  return fromSysDays(sys_days{ymd});
}

std::optional<Date> Date::parse(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  const auto y = readDigits(text, 0, 4);
  const auto m = readDigits(text, 5, 2);
  const auto d = readDigits(text, 8, 2);
  if (!y || !m || !d) return std::nullopt;
  return fromYmd(*y, *m, *d);
}

Date Date::earliest() {
  return Date(kEarliestDays);
}
Date Date::latest() {
  return Date(kLatestDays);
}

Date Date::addDays(int64_t n) const {
  // Clamp n first so the sum cannot overflow.
  n = std::clamp<int64_t>(n, int64_t{kEarliestDays} - kLatestDays,
                          int64_t{kLatestDays} - kEarliestDays);
  const int64_t r = std::clamp<int64_t>(days_ + n, kEarliestDays, kLatestDays);
  return Date(static_cast<int32_t>(r));
}

std::string Date::toString() const {
  char buf[48];  // room for any int, so -Wformat-truncation stays quiet
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", year(), month(), day());
  return buf;
}

Date easterSunday(int year) {
  const int y = std::clamp(year, Date::kMinYear, Date::kMaxYear);
  // Anonymous Gregorian algorithm (Nature 1876; Meeus, Astronomical Algorithms).
  const int a = y % 19;
  const int b = y / 100;
  const int c = y % 100;
  const int d = b / 4;
  const int e = b % 4;
  const int f = (b + 8) / 25;
  const int g = (b - f + 1) / 3;
  const int h = (19 * a + b - d - g + 15) % 30;
  const int i = c / 4;
  const int k = c % 4;
  const int l = (32 + 2 * e + 2 * i - h - k) % 7;
  const int m = (a + 11 * h + 22 * l) / 451;
  const int month = (h + l - 7 * m + 114) / 31;
  const int day = (h + l - 7 * m + 114) % 31 + 1;
  // Always March or April of a year in range, so the date exists.
  return *Date::fromYmd(y, month, day);
}

std::optional<std::string_view> publicHolidayName(Date date) {
  return holidayName(date, easterSunday(date.year()));
}

bool isPublicHoliday(Date date) {
  return publicHolidayName(date).has_value();
}

bool isWorkingDay(Date date) {
  return !isWeekend(date.dayOfWeek()) && !isPublicHoliday(date);
}

Date addWorkingDays(Date start, int n) {
  const int step = n < 0 ? -1 : 1;
  int64_t remaining = n < 0 ? -int64_t{n} : int64_t{n};  // -INT_MIN would overflow an int
  Date current = start;
  int easterYear = current.year();
  Date easter = easterSunday(easterYear);
  while (remaining > 0) {
    const Date next = current.addDays(step);
    if (next == current) break;  // at the end of the supported range
    current = next;
    if (current.year() != easterYear) {
      easterYear = current.year();
      easter = easterSunday(easterYear);
    }
    if (!isWeekend(current.dayOfWeek()) && !holidayName(current, easter)) --remaining;
  }
  return current;
}

Date assessmentDeadline(Date receivedOn) {
  return addWorkingDays(receivedOn, kAssessmentWorkingDays);
}

}  // namespace hoa::clinic
