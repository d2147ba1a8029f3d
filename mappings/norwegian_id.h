#pragma once
// Norwegian national identity numbers: fødselsnummer (urn:oid:2.16.578.1.12.4.1.4.1),
// D-number (urn:oid:2.16.578.1.12.4.1.4.2) and H-number (hjelpenummer, issued by the
// health sector when neither is known).
//
// Layout: DDMMYY III K1 K2 — birth date, 3-digit individual number, two mod-11 check
// digits. A D-number adds 4 to the first day digit (day + 40); an H-number adds 40 to
// the month; a synthetic test number (Skatteetaten/Tenor) adds 80 to the month, on top
// of a fødselsnummer or a D-number. Synthetic numbers are accepted only when the caller
// allows test data. H-numbers are numbers of real people and are always accepted.
// Beware: some older test-data generators (NAV) put synthetic numbers at month + 40;
// this code reads those as H-numbers, as the clinic's rules say.
//
// Thread-safety: pure functions.
#include <cstdint>
#include <optional>
#include <string_view>

#include "mappings/working_days.h"

namespace hoa::clinic {

enum class NationalIdKind : uint8_t { Fnr, DNumber, HNumber };

// Why a number was refused, in the order the checks run: the first failing check wins.
enum class NationalIdError : uint8_t {
  None,
  WrongLength,          // not exactly 11 characters (spaces are not stripped)
  NotDigits,            // a character other than ASCII 0-9
  BadCheckDigit1,       // 10th digit wrong, or its computed value would be 10
  BadCheckDigit2,       // 11th digit wrong, or its computed value would be 10
  InvalidDate,          // no real birth date: bad day/month, no century for this
                        // individual number, or D-number and H-number marks together
  SyntheticNotAllowed,  // a valid synthetic test number while test data is not allowed
};

struct NationalIdOptions {
  bool allowSynthetic = false;  // accept test numbers (month + 80)
};

struct NationalIdResult {
  NationalIdError error = NationalIdError::None;
  // kind, synthetic and birthDate are set when error is None or SyntheticNotAllowed.
  NationalIdKind kind = NationalIdKind::Fnr;
  bool synthetic = false;
  std::optional<Date> birthDate;  // the real birth date (D/H/synthetic offsets removed)

  bool ok() const { return error == NationalIdError::None; }
};

// Checks a fødselsnummer, D-number or H-number and decodes its birth date.
// Century from the individual number III and the year YY:
//   000–499 → 1900–1999;  500–749 and YY 54–99 → 1854–1899;
//   500–999 and YY 00–39 → 2000–2039;  900–999 and YY 40–99 → 1940–1999;
// any other combination has no century and is InvalidDate.
NationalIdResult checkNationalId(std::string_view number, const NationalIdOptions& options = {});

// A stable token for the error ("bad-check-digit-1", …) for logs and message lookup;
// user-facing text (bokmål/English) belongs to the caller.
std::string_view toString(NationalIdError error);

enum class Gender : uint8_t { Female, Male };

// The legal gender encoded in the 9th digit (odd = male, even = female), or nullopt
// when `number` is not 11 ASCII digits. It does not validate the number: call
// checkNationalId() first.
std::optional<Gender> genderDigitOf(std::string_view number);

}  // namespace hoa::clinic
