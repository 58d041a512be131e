#pragma once
// Neumaier's compensated summation (Kahan-Babuska): the sum of many doubles with an error that
// does not grow with their number. Used wherever a model's per-channel credit must add up to the
// input's totals.

#include <cmath>

namespace loopgate::attribution::internal {

class CompensatedSum {
 public:
  void Add(double x) {
    const double t = sum_ + x;
    if (std::fabs(sum_) >= std::fabs(x)) {
      compensation_ += (sum_ - t) + x;
    } else {
      compensation_ += (x - t) + sum_;
    }
    sum_ = t;
  }
  double Value() const { return sum_ + compensation_; }

 private:
  double sum_ = 0;
  double compensation_ = 0;
};

}  // namespace loopgate::attribution::internal
