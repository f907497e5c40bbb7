// Unit tests for the store's workspace secrets (secret_store.h): names, create-or-replace,
// all-or-none batches, listings without values, and the table surviving a reopen.
#include <gtest/gtest.h>

#include <string>

#include "store/store_fixture_test.h"

namespace ferry::store {
namespace {

class SecretStoreTest : public FreshStoreTest {
 protected:
  static SecretRecord Rec(const std::string& name, const std::string& sealed, double at) {
    return SecretRecord{name, sealed, "application/NotProvided", "alice", at, at};
  }
  SecretStore& secrets() { return store_->Secrets(); }
};

TEST(SecretNameTest, FollowsAzureKeyVaultsRule) {
  EXPECT_TRUE(ValidateSecretName("db-pass").ok());
  EXPECT_TRUE(ValidateSecretName("A1-b2").ok());
  EXPECT_TRUE(ValidateSecretName(std::string(127, 'x')).ok());
  for (const std::string bad : {"", "db_pass", "db.pass", "db pass", "pässe", "a/b"}) {
    Status s = ValidateSecretName(bad);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("letter, digit or '-'"), std::string::npos) << s.message();
  }
  Status long_name = ValidateSecretName(std::string(128, 'x'));
  EXPECT_EQ(long_name.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(long_name.message().find("128 characters"), std::string::npos);
  EXPECT_NE(ValidateSecretName("db_pass").message().find("'db_pass'"), std::string::npos);
}

TEST_F(SecretStoreTest, PutGetListDelete) {
  ASSERT_TRUE(secrets().PutSecrets({Rec("db-pass", "sealed:v1:AAA", 10)}).ok());
  auto got = secrets().GetSecret("db-pass");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->sealed_value, "sealed:v1:AAA");
  EXPECT_EQ(got->content_type, "application/NotProvided");
  EXPECT_EQ(got->updated_by, "alice");
  EXPECT_DOUBLE_EQ(got->created_at, 10);

  ASSERT_TRUE(secrets().PutSecrets({Rec("api-key", "sealed:v1:BBB", 11)}).ok());
  auto list = secrets().ListSecrets();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "api-key");  // by name
  EXPECT_EQ((*list)[1].name, "db-pass");
  for (const auto& s : *list) EXPECT_EQ(s.sealed_value, "") << s.name;  // never the value

  ASSERT_TRUE(secrets().DeleteSecret("db-pass").ok());
  Status again = secrets().DeleteSecret("db-pass");
  EXPECT_EQ(again.code(), StatusCode::kNotFound);
  EXPECT_NE(again.message().find("'db-pass'"), std::string::npos);
  auto gone = secrets().GetSecret("db-pass");
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound);
  EXPECT_NE(gone.status().message().find("'db-pass'"), std::string::npos);
}

TEST_F(SecretStoreTest, ReplacingKeepsCreatedAtAndChangesTheRest) {
  ASSERT_TRUE(secrets().PutSecrets({Rec("token", "sealed:v1:old", 10)}).ok());
  SecretRecord next = Rec("token", "sealed:v1:new", 20);
  next.updated_by = "bob";
  next.content_type = "application/vnd.ms-password";
  ASSERT_TRUE(secrets().PutSecrets({next}).ok());
  auto got = secrets().GetSecret("token");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->sealed_value, "sealed:v1:new");
  EXPECT_EQ(got->updated_by, "bob");
  EXPECT_EQ(got->content_type, "application/vnd.ms-password");
  EXPECT_DOUBLE_EQ(got->created_at, 10);
  EXPECT_DOUBLE_EQ(got->updated_at, 20);
}

TEST_F(SecretStoreTest, ABatchWithABadNameChangesNothing) {
  Status s =
      secrets().PutSecrets({Rec("good", "sealed:v1:1", 1), Rec("bad_name", "sealed:v1:2", 1)});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'bad_name'"), std::string::npos);
  auto list = secrets().ListSecrets();
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
}

TEST_F(SecretStoreTest, SurvivesReopening) {
  ASSERT_TRUE(secrets().PutSecrets({Rec("a", "sealed:v1:1", 1), Rec("b", "sealed:v1:2", 2)}).ok());
  Open();
  auto list = secrets().ListSecrets();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 2u);
  auto b = secrets().GetSecret("b");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->sealed_value, "sealed:v1:2");
}

}  // namespace
}  // namespace ferry::store
