#include "demo/json_writer.h"

namespace loopgate::demo {
namespace {

// Howard Hinnant's civil_from_days: the proleptic Gregorian date of a day number.
void CivilFromDays(int64_t z, int* year, unsigned* month, unsigned* day) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *day = doy - (153 * mp + 2) / 5 + 1;
  *month = mp < 10 ? mp + 3 : mp - 9;
  *year = static_cast<int>(static_cast<int64_t>(yoe) + era * 400 + (*month <= 2));
}

void Digits(unsigned v, int width, char* p) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace

void AppendDate(int64_t days, std::string* out) {
  int year;
  unsigned month, day;
  CivilFromDays(days, &year, &month, &day);
  char buf[10];
  Digits(static_cast<unsigned>(year), 4, buf);
  buf[4] = '-';
  Digits(month, 2, buf + 5);
  buf[7] = '-';
  Digits(day, 2, buf + 8);
  out->append(buf, sizeof(buf));
}

void AppendTime(int64_t ms, bool with_millis, int offset_minutes, std::string* out) {
  const int64_t local = ms + static_cast<int64_t>(offset_minutes) * 60000;
  const int64_t days = FloorDiv(local, 86400000);
  const int64_t in_day = local - days * 86400000;
  AppendDate(days, out);
  const unsigned secs = static_cast<unsigned>(in_day / 1000);
  char buf[16];
  buf[0] = 'T';
  Digits(secs / 3600, 2, buf + 1);
  buf[3] = ':';
  Digits(secs / 60 % 60, 2, buf + 4);
  buf[6] = ':';
  Digits(secs % 60, 2, buf + 7);
  size_t n = 9;
  if (with_millis) {
    buf[n++] = '.';
    Digits(static_cast<unsigned>(in_day % 1000), 3, buf + n);
    n += 3;
  }
  out->append(buf, n);
  if (offset_minutes == 0) {
    out->push_back('Z');
    return;
  }
  const unsigned off = static_cast<unsigned>(offset_minutes < 0 ? -offset_minutes : offset_minutes);
  char tz[6];
  tz[0] = offset_minutes < 0 ? '-' : '+';
  Digits(off / 60, 2, tz + 1);
  tz[3] = ':';
  Digits(off % 60, 2, tz + 4);
  out->append(tz, sizeof(tz));
}

void AppendId(std::string_view prefix, uint64_t n, int width, std::string* out) {
  out->append(prefix);
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), n);
  for (int pad = width - static_cast<int>(r.ptr - buf); pad > 0; --pad) out->push_back('0');
  out->append(buf, r.ptr);
}

}  // namespace loopgate::demo
