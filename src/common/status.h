#pragma once
// Error plumbing shared by every module. Debian's abseil lacks status_macros.h, so the two
// macros we need live here.

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define LOOPGATE_CONCAT_INNER_(a, b) a##b
#define LOOPGATE_CONCAT_(a, b) LOOPGATE_CONCAT_INNER_(a, b)

// Returns early from the enclosing function when `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                  \
  do {                                         \
    ::absl::Status loopgate_status_ = (expr);  \
    if (!loopgate_status_.ok()) {              \
      return loopgate_status_;                 \
    }                                          \
  } while (false)

// `ASSIGN_OR_RETURN(T x, expr)`: evaluates `expr` (an absl::StatusOr<T>), returns its status
// when not OK, otherwise moves the value into the declaration `lhs`.
#define ASSIGN_OR_RETURN(lhs, expr) \
  LOOPGATE_ASSIGN_OR_RETURN_IMPL_(LOOPGATE_CONCAT_(loopgate_statusor_, __LINE__), lhs, expr)
#define LOOPGATE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                    \
  if (!tmp.ok()) {                                      \
    return std::move(tmp).status();                     \
  }                                                     \
  lhs = std::move(tmp).value()
