#pragma once
// Test support: a state directory of the running test's own, with its store open. Header-only;
// only test targets include it (it needs GoogleTest).

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "gtest/gtest.h"
#include "store/store.h"

namespace loopgate::store::test_support {

struct ScratchState {
  std::string root;             // Unique to the test (tag, suite, name, pid).
  std::unique_ptr<Database> db;  // Opened in root + "/state".

  // Creates `root` afresh and opens the store; a failure fails the current test.
  void Open(std::string_view tag) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root = ::testing::TempDir() + "/loopgate_" + std::string(tag) + "_" +
           info->test_suite_name() + "_" + info->name() + "_" + std::to_string(::getpid());
    std::filesystem::remove_all(root);
    std::filesystem::create_directories(root);
    auto opened = Database::Open(root + "/state");
    ASSERT_TRUE(opened.ok()) << opened.status();
    db = std::move(*opened);
  }

  // Closes the store and removes `root`.
  void Close() {
    db.reset();
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  }
};

}  // namespace loopgate::store::test_support
