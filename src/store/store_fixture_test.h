// The store's unit tests' fixture: a fresh SQLite metadata store in a directory of its own for
// every test, removed after it; Open() reopens it (what a server restart sees).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <memory>
#include <string>

#include "common/fs.h"
#include "store/metadata_store.h"

namespace ferry::store {

class FreshStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ferry_store_XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    Open();
  }
  void TearDown() override {
    store_.reset();
    (void)RemoveAll(dir_);
  }
  void Open() {
    store_.reset();
    auto s = OpenSqliteMetadataStore(dir_ + "/ferry.db");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  std::string dir_;
  std::unique_ptr<MetadataStore> store_;
};

}  // namespace ferry::store
