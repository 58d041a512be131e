#include "report/study_html.h"
#include "gtest/gtest.h"
TEST(StudyHtml, Placeholder) {}
