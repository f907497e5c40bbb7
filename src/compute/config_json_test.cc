// The compute targets' stored configurations (compute_targets rows' config JSON): what today's
// servers wrote loads unchanged and is written back with the same keys (a downgrade reads it),
// a missing key loads as the struct's default, a wrongly typed one is a Status naming the kind
// and the field, and a secret is only ever stored sealed.
#include "compute/config_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "compute/cluster/cluster.h"
#include "compute/slurm/slurm_target.h"
#include "compute/ssh/ssh_target.h"

namespace ferry::compute {
namespace {

using nlohmann::json;

// Written by the hand-written ToJson() these serialisers replaced (every field set to a value
// other than its default), committed as text: they must load and dump byte for byte.
constexpr char kStoredSsh[] =
    R"({"facts":{"arch":"x86_64","cpus":32,"gpus":[{"index":0,"name":"NVIDIA A100"}],"os":"Linux","pythons":["/usr/bin/python3 3.11.2"]},"host":"gpu1.example.org","key_file":"/home/ana/.ssh/id_ed25519","kind":"instance","known_hosts":"[gpu1.example.org]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake\n","max_concurrent_runs":4,"owner":"bob","port":2222,"remote_dir":"/scratch/ana/ferry","secret":"c2VhbGVkOnBhc3NwaHJhc2U=","start_command":"cloud start gpu1","state":"stopped","state_reason":"stopped by bob","stop_command":"cloud stop gpu1","user":"ana"})";
constexpr char kStoredSshDefaults[] =
    R"({"facts":{},"host":"","key_file":"","kind":"ssh","known_hosts":"","max_concurrent_runs":1,"owner":"","port":22,"remote_dir":".ferry-agent","secret":"","start_command":"","state":"running","state_reason":"","stop_command":"","user":""})";
constexpr char kStoredSlurm[] =
    R"({"account":"proj42","facts":{"AccountingStorageType":"accounting_storage/slurmdbd","partitions":[{"name":"gpu","nodes":4}],"version":"22.05.8"},"key_file":"/home/ana/.ssh/hpc","known_hosts":"login.hpc.example.org ssh-ed25519 AAAAFake\n","local":false,"login_host":"login.hpc.example.org","login_port":2200,"login_user":"ana","low_priority_partition":"preempt","low_priority_qos":"scavenger","max_queued_jobs":50,"partition":"gpu","qos":"normal","requeue_all":true,"secret":"c2VhbGVkOmhwYw==","server_url":"http://10.0.0.5:8765","server_url_auto":true,"shared_dir":"/shared/ferry","slurm_conf":"/home/ana/.ferry/clusters/c1/slurm.conf"})";
constexpr char kStoredSlurmDefaults[] =
    R"({"account":"","facts":{},"key_file":"","known_hosts":"","local":true,"login_host":"","login_port":22,"login_user":"","low_priority_partition":"","low_priority_qos":"","max_queued_jobs":1000,"partition":"","qos":"","requeue_all":false,"secret":"","server_url":"","server_url_auto":false,"shared_dir":"","slurm_conf":""})";
constexpr char kStoredCluster[] =
    R"({"bridge":"ferry-c1","controller_address":"10.78.5.1","cpus":8,"dir":"/home/ana/.ferry/clusters/c1","ferry_executable":"/usr/local/bin/ferry","for_run":"exp_1_ab12","gpus":1,"idle_seconds":120,"max_nodes":4,"memory_mb":16384,"min_nodes":1,"name":"c1","outbound":true,"owner":"ana","priority":"low","provider":"command","provider_timeout_s":600,"server_url":"http://10.78.5.1:8765","single_owner":true,"slurmctld_port":6817,"start_command":"start-node {node} {cluster}","stop_command":"stop-node {node}","subnet":"10.78.5","vm_size":"STANDARD_D13_V2"})";
// As stored before node sizes (no "vm_size", no "owner"): still loads, the two as defaults.
constexpr char kStoredClusterBeforeNodeSizes[] =
    R"({"bridge":"ferry-c1","controller_address":"10.78.5.1","cpus":8,"dir":"/home/ana/.ferry/clusters/c1","ferry_executable":"/usr/local/bin/ferry","gpus":1,"idle_seconds":120,"max_nodes":4,"memory_mb":16384,"min_nodes":1,"name":"c1","priority":"low","provider":"command","provider_timeout_s":600,"server_url":"http://10.78.5.1:8765","slurmctld_port":6817,"start_command":"start-node {node} {cluster}","stop_command":"stop-node {node}","subnet":"10.78.5"})";
constexpr char kStoredClusterDefaults[] =
    R"({"bridge":"","controller_address":"","cpus":1,"dir":"","ferry_executable":"","for_run":"","gpus":0,"idle_seconds":300,"max_nodes":1,"memory_mb":1024,"min_nodes":0,"name":"","outbound":false,"owner":"","priority":"dedicated","provider":"","provider_timeout_s":300,"server_url":"","single_owner":false,"slurmctld_port":0,"start_command":"","stop_command":"","subnet":"","vm_size":""})";

std::set<std::string> Keys(const std::string& text) {
  const json j = json::parse(text);
  std::set<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.insert(k);
  return keys;
}

TEST(SshTargetConfigJson, StoredTodayLoadsEveryFieldAndDumpsTheSameText) {
  auto c = SshTargetConfig::FromJson(kStoredSsh);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->host, "gpu1.example.org");
  EXPECT_EQ(c->port, 2222);
  EXPECT_EQ(c->user, "ana");
  EXPECT_EQ(c->key_file, "/home/ana/.ssh/id_ed25519");
  EXPECT_EQ(c->secret_sealed, "c2VhbGVkOnBhc3NwaHJhc2U=");
  EXPECT_EQ(c->remote_dir, "/scratch/ana/ferry");
  EXPECT_EQ(c->max_concurrent_runs, 4);
  EXPECT_EQ(c->known_hosts, "[gpu1.example.org]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake\n");
  EXPECT_EQ(json::parse(c->facts_json)["gpus"][0]["name"], "NVIDIA A100");
  EXPECT_EQ(c->kind, "instance");
  EXPECT_EQ(c->owner, "bob");
  EXPECT_EQ(c->stop_command, "cloud stop gpu1");
  EXPECT_EQ(c->start_command, "cloud start gpu1");
  EXPECT_EQ(c->state, "stopped");
  EXPECT_EQ(c->state_reason, "stopped by bob");
  EXPECT_EQ(c->ToJson(), kStoredSsh);
}

TEST(SshTargetConfigJson, MissingFieldsLoadAsTheDefaults) {
  auto c = SshTargetConfig::FromJson("{}");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->port, 22);
  EXPECT_EQ(c->remote_dir, ".ferry-agent");
  EXPECT_EQ(c->max_concurrent_runs, 1);
  EXPECT_EQ(c->facts_json, "{}");
  EXPECT_EQ(c->kind, "ssh");
  EXPECT_EQ(c->state, "running");
  EXPECT_EQ(c->ToJson(), kStoredSshDefaults);
  EXPECT_EQ(SshTargetConfig{}.ToJson(), kStoredSshDefaults);

  // A row from before compute instances (no kind, owner, commands or state): an ssh target.
  auto old = SshTargetConfig::FromJson(
      R"({"host":"h","port":2022,"user":"u","key_file":"","secret":"","remote_dir":"r",)"
      R"("max_concurrent_runs":2,"known_hosts":"h ssh-ed25519 K\n","facts":{"os":"Linux"}})");
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->port, 2022);
  EXPECT_EQ(old->max_concurrent_runs, 2);
  EXPECT_EQ(old->facts_json, R"({"os":"Linux"})");
  EXPECT_EQ(old->kind, "ssh");
  EXPECT_EQ(old->state, "running");
  EXPECT_EQ(old->owner, "");
}

TEST(SshTargetConfigJson, WronglyTypedFieldIsAStatusNamingTheKindAndTheField) {
  auto port = SshTargetConfig::FromJson(R"({"host":"h","port":"22"})");
  ASSERT_FALSE(port.ok());
  EXPECT_EQ(port.status().code(), StatusCode::kCorruption);
  EXPECT_EQ(port.status().message(),
            "ssh target configuration: field 'port' must be a number, not a string");

  auto instance = SshTargetConfig::FromJson(R"({"kind":"instance","state":false})");
  ASSERT_FALSE(instance.ok());
  EXPECT_EQ(instance.status().message(),
            "instance target configuration: field 'state' must be a string, not a boolean");

  // The fields stored under another name are named as stored.
  auto secret = SshTargetConfig::FromJson(R"({"secret":7})");
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().message(),
            "ssh target configuration: field 'secret' must be a string, not a number");

  auto null = SshTargetConfig::FromJson(R"({"user":null})");
  ASSERT_FALSE(null.ok());
  EXPECT_NE(null.status().message().find("field 'user' must be a string, not null"),
            std::string::npos)
      << null.status().message();

  for (const char* text : {"", "[1,2]", "\"x\"", "{\"host\":"}) {
    auto bad = SshTargetConfig::FromJson(text);
    ASSERT_FALSE(bad.ok()) << text;
    EXPECT_EQ(bad.status().code(), StatusCode::kCorruption);
    EXPECT_EQ(bad.status().message(), "ssh target configuration is not a JSON object");
  }
}

TEST(SshTargetConfigJson, SecretIsStoredOnlySealedUnderItsKey) {
  SshTargetConfig c;
  c.secret_sealed = "sealed-bytes";
  const std::string text = c.ToJson();
  EXPECT_EQ(Keys(text), Keys(kStoredSsh));  // the same keys a downgrade reads
  json j = json::parse(text);
  EXPECT_EQ(j["secret"], "sealed-bytes");
  EXPECT_EQ(j["facts"], json::object());  // an object, not the text of one
  for (const auto& [k, v] : j.items()) {
    if (k != "secret") {
      EXPECT_NE(v, "sealed-bytes") << k;
    }
  }
}

TEST(SlurmTargetConfigJson, StoredTodayLoadsEveryFieldAndDumpsTheSameText) {
  auto c = SlurmTargetConfig::FromJson(kStoredSlurm);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE(c->local);
  EXPECT_EQ(c->login_host, "login.hpc.example.org");
  EXPECT_EQ(c->login_port, 2200);
  EXPECT_EQ(c->login_user, "ana");
  EXPECT_EQ(c->key_file, "/home/ana/.ssh/hpc");
  EXPECT_EQ(c->secret_sealed, "c2VhbGVkOmhwYw==");
  EXPECT_EQ(c->known_hosts, "login.hpc.example.org ssh-ed25519 AAAAFake\n");
  EXPECT_EQ(c->partition, "gpu");
  EXPECT_EQ(c->account, "proj42");
  EXPECT_EQ(c->qos, "normal");
  EXPECT_EQ(c->low_priority_partition, "preempt");
  EXPECT_EQ(c->low_priority_qos, "scavenger");
  EXPECT_EQ(c->shared_dir, "/shared/ferry");
  EXPECT_EQ(c->server_url, "http://10.0.0.5:8765");
  EXPECT_TRUE(c->server_url_auto);
  EXPECT_EQ(c->max_queued_jobs, 50);
  EXPECT_EQ(c->slurm_conf, "/home/ana/.ferry/clusters/c1/slurm.conf");
  EXPECT_TRUE(c->requeue_all);
  EXPECT_EQ(json::parse(c->facts_json)["version"], "22.05.8");
  EXPECT_EQ(c->ToJson(), kStoredSlurm);
}

TEST(SlurmTargetConfigJson, MissingFieldsLoadAsTheDefaults) {
  auto c = SlurmTargetConfig::FromJson(R"({"shared_dir":"/shared"})");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->shared_dir, "/shared");
  EXPECT_TRUE(c->local);
  EXPECT_EQ(c->login_port, 22);
  EXPECT_EQ(c->max_queued_jobs, 1000);
  EXPECT_FALSE(c->server_url_auto);
  EXPECT_FALSE(c->requeue_all);
  EXPECT_EQ(c->facts_json, "{}");
  EXPECT_EQ(SlurmTargetConfig::FromJson("{}")->ToJson(), kStoredSlurmDefaults);
  EXPECT_EQ(SlurmTargetConfig{}.ToJson(), kStoredSlurmDefaults);
}

TEST(SlurmTargetConfigJson, WronglyTypedFieldIsAStatusNamingTheKindAndTheField) {
  auto local = SlurmTargetConfig::FromJson(R"({"local":"yes","max_queued_jobs":5})");
  ASSERT_FALSE(local.ok());
  EXPECT_EQ(local.status().code(), StatusCode::kCorruption);
  EXPECT_EQ(local.status().message(),
            "slurm target configuration: field 'local' must be a boolean, not a string");
  auto jobs = SlurmTargetConfig::FromJson(R"({"max_queued_jobs":[1]})");
  ASSERT_FALSE(jobs.ok());
  EXPECT_EQ(jobs.status().message(),
            "slurm target configuration: field 'max_queued_jobs' must be a number, not an array");
  EXPECT_EQ(SlurmTargetConfig::FromJson("null").status().message(),
            "slurm target configuration is not a JSON object");
}

TEST(SlurmTargetConfigJson, SecretIsStoredOnlySealedUnderItsKey) {
  SlurmTargetConfig c;
  c.secret_sealed = "sealed-bytes";
  const std::string text = c.ToJson();
  EXPECT_EQ(Keys(text), Keys(kStoredSlurm));
  json j = json::parse(text);
  EXPECT_EQ(j["secret"], "sealed-bytes");
  for (const auto& [k, v] : j.items()) {
    if (k != "secret") {
      EXPECT_NE(v, "sealed-bytes") << k;
    }
  }
}

TEST(ClusterConfigJson, StoredTodayLoadsEveryFieldAndDumpsTheSameText) {
  auto c = ClusterConfig::FromJson(kStoredCluster);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->name, "c1");
  EXPECT_EQ(c->min_nodes, 1);
  EXPECT_EQ(c->max_nodes, 4);
  EXPECT_EQ(c->idle_seconds, 120);
  EXPECT_EQ(c->cpus, 8);
  EXPECT_EQ(c->memory_mb, 16384);
  EXPECT_EQ(c->gpus, 1);
  EXPECT_EQ(c->priority, "low");
  EXPECT_EQ(c->provider, "command");
  EXPECT_EQ(c->start_command, "start-node {node} {cluster}");
  EXPECT_EQ(c->stop_command, "stop-node {node}");
  EXPECT_EQ(c->provider_timeout_s, 600);
  EXPECT_EQ(c->subnet, "10.78.5");
  EXPECT_EQ(c->bridge, "ferry-c1");
  EXPECT_EQ(c->dir, "/home/ana/.ferry/clusters/c1");
  EXPECT_EQ(c->ferry_executable, "/usr/local/bin/ferry");
  EXPECT_EQ(c->slurmctld_port, 6817);
  EXPECT_EQ(c->controller_address, "10.78.5.1");
  EXPECT_EQ(c->server_url, "http://10.78.5.1:8765");
  EXPECT_EQ(c->vm_size, "STANDARD_D13_V2");
  EXPECT_EQ(c->owner, "ana");
  EXPECT_TRUE(c->single_owner);
  EXPECT_EQ(c->for_run, "exp_1_ab12");
  EXPECT_TRUE(c->outbound);
  EXPECT_EQ(c->ToJson(), kStoredCluster);
}

TEST(ClusterConfigJson, StoredBeforeNodeSizesLoadsWithoutSizeNameOrOwner) {
  auto c = ClusterConfig::FromJson(kStoredClusterBeforeNodeSizes);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->cpus, 8);
  EXPECT_EQ(c->provider, "command");
  EXPECT_EQ(c->vm_size, "");
  EXPECT_FALSE(c->single_owner);
  EXPECT_EQ(c->owner, "");
}

TEST(ClusterConfigJson, MissingFieldsLoadAsTheDefaults) {
  auto c = ClusterConfig::FromJson(R"({"name":"c2","max_nodes":3})");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->name, "c2");
  EXPECT_EQ(c->max_nodes, 3);
  EXPECT_EQ(c->min_nodes, 0);
  EXPECT_EQ(c->idle_seconds, 300);
  EXPECT_EQ(c->memory_mb, 1024);
  EXPECT_EQ(c->priority, "dedicated");
  EXPECT_EQ(c->provider_timeout_s, 300);
  EXPECT_EQ(ClusterConfig::FromJson("{}")->ToJson(), kStoredClusterDefaults);
  EXPECT_EQ(ClusterConfig{}.ToJson(), kStoredClusterDefaults);
}

TEST(ClusterConfigJson, WronglyTypedFieldIsAStatusNamingTheKindAndTheField) {
  auto c = ClusterConfig::FromJson(R"({"name":"c1","max_nodes":"4"})");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kCorruption);
  EXPECT_EQ(c.status().message(),
            "cluster configuration: field 'max_nodes' must be a number, not a string");
  EXPECT_EQ(ClusterConfig::FromJson(R"({"priority":{}})").status().message(),
            "cluster configuration: field 'priority' must be a string, not an object");
}

}  // namespace
}  // namespace ferry::compute
