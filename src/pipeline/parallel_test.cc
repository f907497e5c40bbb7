// Unit tests of ParallelRunStep's configuration, mini-batch split and stop rule.
#include "pipeline/parallel.h"

#include <gtest/gtest.h>

namespace ferry::pipeline {
namespace {

using nlohmann::json;

ParallelConfig Config(json j) {
  if (!j.contains("entry_script")) j["entry_script"] = "score.py";
  auto c = ParallelConfigFromJson(j, "step 'score': ");
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : ParallelConfig{};
}

std::vector<InputFile> Files(int n, int64_t size = 10) {
  std::vector<InputFile> out;
  for (int i = n - 1; i >= 0; --i) {
    char name[32];
    std::snprintf(name, sizeof name, "f%03d.png", i);
    out.push_back({name, size});
  }
  return out;
}

TEST(ParallelConfigTest, ReadsAzuresFieldsAndRoundTrips) {
  ParallelConfig c = Config({{"mini_batch_size", "5"},
                             {"error_threshold", 10},
                             {"allowed_failed_percent", 25},
                             {"output_action", "summary_only"},
                             {"node_count", 2},
                             {"process_count_per_node", "2"},
                             {"run_invocation_timeout", 30},
                             {"run_max_try", 2},
                             {"environment", {{"name", "ignored"}}}});
  EXPECT_EQ(c.mini_batch_size, "5");
  EXPECT_EQ(c.error_threshold, 10);
  EXPECT_EQ(*c.allowed_failed_percent, 25);
  EXPECT_FALSE(c.allowed_failed_count);
  EXPECT_EQ(c.node_count, 2);
  EXPECT_EQ(c.process_count_per_node, 2);
  auto again = ParallelConfigFromJson(ParallelConfigToJson(c), "");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(ParallelConfigToJson(*again), ParallelConfigToJson(c));
}

TEST(ParallelConfigTest, MistakesNameTheKey) {
  struct Case {
    json j;
    const char* expect;
  } cases[] = {
      {{{"mini_batch_size", "5"}}, "entry_script"},
      {{{"entry_script", "s.py"}, {"mini_batch_size", "lots"}}, "mini_batch_size"},
      {{{"entry_script", "s.py"}, {"output_action", "append_column"}}, "output_action"},
      {{{"entry_script", "s.py"}, {"run_max_try", 0}}, "run_max_try"},
      {{{"entry_script", "s.py"}, {"node_count", "two"}}, "node_count"},
      {{{"entry_script", "s.py"}, {"allowed_failed_percent", 150}}, "allowed_failed_percent"},
      {{{"entry_script", "s.py"}, {"append_row_file_name", "a/b.txt"}}, "append_row_file_name"},
      {{{"entry_script", "s.py"}, {"batch_size", 3}}, "batch_size"},
      {{{"entry_script", "s.py"}, {"input_kind", "tabular"}, {"mini_batch_size", "10"}},
       nullptr},  // 10 bytes is a size too
  };
  for (const auto& c : cases) {
    auto r = ParallelConfigFromJson(c.j, "step 'score': ");
    if (!c.expect) {
      EXPECT_TRUE(r.ok()) << c.j.dump();
      continue;
    }
    ASSERT_FALSE(r.ok()) << c.j.dump();
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("step 'score'"), std::string::npos);
  }
}

TEST(ParallelConfigTest, MiniBatchSizes) {
  EXPECT_EQ(*ParseMiniBatchSize("10", false), 10);
  EXPECT_EQ(*ParseMiniBatchSize("1MB", true), 1 << 20);
  EXPECT_EQ(*ParseMiniBatchSize("100 kb", true), 100 << 10);
  EXPECT_EQ(*ParseMiniBatchSize("2GB", true), int64_t{2} << 30);
  EXPECT_FALSE(ParseMiniBatchSize("1MB", false).ok()) << "files are counted, not sized";
  EXPECT_FALSE(ParseMiniBatchSize("0", false).ok());
  EXPECT_FALSE(ParseMiniBatchSize("", true).ok());
}

TEST(SplitTest, FileDatasetsGoByCountInPathOrder) {
  auto batches = SplitIntoMiniBatches(Config({{"mini_batch_size", "4"}}), Files(10));
  ASSERT_TRUE(batches.ok());
  ASSERT_EQ(batches->size(), 3u);
  EXPECT_EQ((*batches)[0].items, json({"f000.png", "f001.png", "f002.png", "f003.png"}));
  EXPECT_EQ((*batches)[2].items, json({"f008.png", "f009.png"}));
  EXPECT_EQ((*batches)[2].item_count, 2);
  EXPECT_EQ(SplitIntoMiniBatches(Config({}), Files(25))->size(), 3u) << "10 files by default";
  EXPECT_FALSE(SplitIntoMiniBatches(Config({}), {}).ok()) << "nothing to split is an error";
}

TEST(SplitTest, TabularDatasetsGoBySizeAndSplitLargeFilesIntoRanges) {
  ParallelConfig c = Config({{"mini_batch_size", "100"}, {"input_kind", "tabular"}});
  auto batches = SplitIntoMiniBatches(
      c, {{"a.csv", 40}, {"b.csv", 50}, {"c.csv", 30}, {"d.csv", 250}, {"e.csv", 10}});
  ASSERT_TRUE(batches.ok()) << batches.status().ToString();
  // a+b fit (90), c starts a new one, d is cut in 100-byte ranges, e after it.
  ASSERT_EQ(batches->size(), 6u);
  EXPECT_EQ((*batches)[0].items.size(), 2u);
  EXPECT_EQ((*batches)[1].items[0]["path"], "c.csv");
  EXPECT_EQ((*batches)[2].items[0], json({{"path", "d.csv"}, {"start", 0}, {"end", 100}}));
  EXPECT_EQ((*batches)[4].items[0], json({{"path", "d.csv"}, {"start", 200}, {"end", 250}}));
  EXPECT_EQ((*batches)[5].items[0]["path"], "e.csv");
}

TEST(SplitTest, PartitionKeysMakeOneBatchPerPartition) {
  ParallelConfig c = Config({{"input_kind", "tabular"},
                             {"partition_keys", {"store"}},
                             {"partition_format", "{store}/{day}/*.csv"}});
  auto batches = SplitIntoMiniBatches(
      c, {{"s1/mon/a.csv", 1}, {"s2/mon/a.csv", 1}, {"s1/tue/a.csv", 1}, {"s2/tue/b.csv", 1}});
  ASSERT_TRUE(batches.ok()) << batches.status().ToString();
  ASSERT_EQ(batches->size(), 2u);
  EXPECT_EQ((*batches)[0].items, json({"s1/mon/a.csv", "s1/tue/a.csv"}));
  EXPECT_EQ((*batches)[1].items, json({"s2/mon/a.csv", "s2/tue/b.csv"}));
  c.partition_format.clear();
  EXPECT_FALSE(SplitIntoMiniBatches(c, {{"s1/mon/a.csv", 1}}).ok());
}

TEST(AbortTest, ThresholdsOnItemsAndBatches) {
  ParallelConfig c = Config({{"error_threshold", 5}});
  EXPECT_EQ(AbortReason(c, {10, 2, 1, 5}), "");
  EXPECT_NE(AbortReason(c, {10, 2, 1, 6}).find("error_threshold (5)"), std::string::npos);
  EXPECT_EQ(AbortReason(Config({}), {10, 0, 10, 100}), "") << "-1: failures never stop the step";
  ParallelConfig count = Config({{"allowed_failed_count", 1}});
  EXPECT_EQ(AbortReason(count, {10, 5, 1, 0}), "");
  EXPECT_NE(AbortReason(count, {10, 5, 2, 0}).find("allowed_failed_count"), std::string::npos);
  ParallelConfig pct = Config({{"allowed_failed_percent", 20}});
  EXPECT_EQ(AbortReason(pct, {10, 5, 2, 0}), "");
  EXPECT_NE(AbortReason(pct, {10, 5, 3, 0}).find("3 of 10 mini-batches"), std::string::npos);
}

}  // namespace
}  // namespace ferry::pipeline
