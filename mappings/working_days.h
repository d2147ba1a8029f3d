#pragma once
// Civil dates and the Norwegian working-day calendar used for legal deadlines
// (referral assessment: 10 working days after receipt).
//
// The calendar is the proleptic Gregorian one. The holiday set is today's law
// (helligdagsloven and the 1 May / 17 May law) applied to every year; it is not a
// historical record. A working day is Monday–Friday that is not a public holiday.
// 24 and 31 December and Easter Saturday are not public holidays.
//
// Thread-safety: everything here is a pure function of its arguments; Date is a value.
#include <chrono>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hoa::clinic {

// A valid calendar date between 0001-01-01 and 9999-12-31 (the range of a four-digit
// "YYYY-MM-DD" text). Every Date that exists is valid; untrusted input goes through
// fromYmd() or parse(), which refuse what is not a real date.
class Date {
 public:
  static constexpr int kMinYear = 1;
  static constexpr int kMaxYear = 9999;

  // 1970-01-01.
  constexpr Date() = default;

  // The date, or nullopt when it is not a real date in the supported range
  // (e.g. 2023-02-29, month 13, year 0).
  static std::optional<Date> fromYmd(int year, int month, int day);
  // Parses exactly "YYYY-MM-DD" (ASCII digits, no sign, no time, no partial date).
  static std::optional<Date> parse(std::string_view text);
  // The date of a chrono day count, or nullopt outside the supported range.
  static std::optional<Date> fromSysDays(std::chrono::sys_days days);

  static Date earliest();  // 0001-01-01
  static Date latest();    // 9999-12-31

  int year() const { return static_cast<int>(ymd().year()); }
  int month() const { return static_cast<int>(static_cast<unsigned>(ymd().month())); }
  int day() const { return static_cast<int>(static_cast<unsigned>(ymd().day())); }
  std::chrono::year_month_day ymd() const { return std::chrono::year_month_day{sysDays()}; }
  std::chrono::sys_days sysDays() const { return std::chrono::sys_days{std::chrono::days{days_}}; }
  std::chrono::weekday dayOfWeek() const { return std::chrono::weekday{sysDays()}; }

  // The date n days later (n < 0: earlier). The result saturates at earliest()/latest()
  // rather than leaving the supported range.
  Date addDays(int64_t n) const;
  // Days from this date to `other` (negative when `other` is earlier).
  int64_t daysUntil(Date other) const { return int64_t{other.days_} - days_; }

  // "YYYY-MM-DD"; parse(toString()) gives the same date back.
  std::string toString() const;

  friend constexpr bool operator==(const Date&, const Date&) = default;
  friend constexpr std::strong_ordering operator<=>(const Date& a, const Date& b) {
    return a.days_ <=> b.days_;
  }

 private:
  explicit constexpr Date(int32_t days) : days_(days) {}
  int32_t days_ = 0;  // days since 1970-01-01; a plain count keeps compare and add cheap
};

// Easter Sunday of `year` (Gregorian computus, anonymous Gregorian algorithm).
// Precondition: Date::kMinYear <= year <= Date::kMaxYear; other years are clamped.
Date easterSunday(int year);

// The Norwegian (bokmål) name of the public holiday on `date`, or nullopt when it is
// not one. Holidays: 1. nyttårsdag (1 Jan), skjærtorsdag, langfredag, 1. and 2. påskedag,
// offentlig høytidsdag (1 May), grunnlovsdag (17 May), Kristi himmelfartsdag (Easter+39),
// 1. and 2. pinsedag (Easter+49/+50), 1. and 2. juledag (25/26 Dec). When two coincide
// (17 May can be Ascension Day or Whit Monday) the fixed-date name wins.
std::optional<std::string_view> publicHolidayName(Date date);
bool isPublicHoliday(Date date);

// Monday–Friday and not a public holiday.
bool isWorkingDay(Date date);

// The date that is n working days after `start`, not counting `start` itself:
// Friday + 1 = the next Monday when that Monday is a working day; a start on a weekend
// or holiday counts from the next working day. n = 0 returns `start` unchanged (even
// when it is not a working day); n < 0 counts backwards the same way. Saturates at
// Date::earliest()/latest().
Date addWorkingDays(Date start, int n);

// Legal assessment deadline for a referral received on `receivedOn`
// (referral-contract: 10 Norwegian working days after receipt).
inline constexpr int kAssessmentWorkingDays = 10;
Date assessmentDeadline(Date receivedOn);

}  // namespace hoa::clinic
