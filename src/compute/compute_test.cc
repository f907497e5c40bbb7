// Unit tests for GPU discovery (against a fake nvidia-smi on PATH) and its CSV parsing, and
// for the agent bundle's contents, and ssh failures' messages.
#include <gtest/gtest.h>
#include <stdlib.h>

#include "common/fs.h"
#include "compute/bundle.h"
#include "compute/gpu.h"
#include "compute/slurm/slurm_target.h"
#include "compute/ssh/ssh_client.h"

namespace ferry::compute {
namespace {

TEST(Gpu, ParsesListWithCommasInNames) {
  auto r = ParseGpuList(
      "0, NVIDIA H100 80GB HBM3, GPU-aaa, 81559\n1, Tesla T4, rev, GPU-bbb, 15360\n\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].index, 0);
  EXPECT_EQ((*r)[0].name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ((*r)[0].memory_total_mib, 81559);
  EXPECT_EQ((*r)[1].name, "Tesla T4,rev");
  EXPECT_EQ((*r)[1].uuid, "GPU-bbb");
  EXPECT_FALSE(ParseGpuList("garbage\n").ok());
}

TEST(Gpu, SamplesToleratesNotAvailable) {
  auto s = ParseGpuSamples("0, 35, 1234\n1, [N/A], 200\n");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_DOUBLE_EQ(s[0].utilization_percent, 35);
  EXPECT_DOUBLE_EQ(s[0].memory_used_mib, 1234);
  EXPECT_DOUBLE_EQ(s[1].utilization_percent, -1);
}

class FakeSmi : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ferry-gpu-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    old_path_ = std::getenv("PATH") ? std::getenv("PATH") : "";
    ::setenv("PATH", (dir_ + ":" + old_path_).c_str(), 1);
  }
  void TearDown() override {
    ::setenv("PATH", old_path_.c_str(), 1);
    (void)RemoveAll(dir_);
  }
  void Write(const std::string& script, const std::string& tool = "nvidia-smi") {
    std::string p = dir_ + "/" + tool;
    ASSERT_TRUE(WriteFileAtomic(p, "#!/bin/sh\n" + script).ok());
    ::chmod(p.c_str(), 0755);
  }
  std::string dir_, old_path_;
};

// The bundle carries the whole Python package, subpackages included (ferry.core.runconfig on
// an SSH host), and leaves caches behind; a change in a subpackage is a new bundle.
TEST(AgentBundle, CarriesThePackagesSubpackages) {
  char tmpl[] = "/tmp/ferry-bundle-test-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string pkg = dir + "/py/ferry";
  ASSERT_TRUE(MakeDirs(pkg + "/core/compute").ok());
  ASSERT_TRUE(MakeDirs(pkg + "/__pycache__").ok());
  ASSERT_TRUE(WriteFileAtomic(pkg + "/__init__.py", "").ok());
  ASSERT_TRUE(WriteFileAtomic(pkg + "/core/__init__.py", "x = 1\n").ok());
  ASSERT_TRUE(WriteFileAtomic(pkg + "/core/compute/__init__.py", "").ok());
  ASSERT_TRUE(WriteFileAtomic(pkg + "/__pycache__/run.cpython-311.pyc", "junk").ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/ferry-bin", "not really an ELF file").ok());
  auto b = BuildAgentBundle(dir + "/home", dir + "/ferry-bin", dir + "/py");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  const std::string staged = dir + "/home/ssh/bundle-" + b->hash + "/share/ferry/python/ferry";
  EXPECT_EQ(ReadFile(staged + "/core/__init__.py").value(), "x = 1\n");
  EXPECT_TRUE(PathExists(staged + "/core/compute/__init__.py"));
  EXPECT_FALSE(PathExists(staged + "/__pycache__"));
  EXPECT_NE(b->tar.find("share/ferry/python/ferry/core/compute/__init__.py"), std::string::npos);

  // Another package directory (bundles are cached per binary and directory) that differs only
  // inside the subpackage.
  const std::string pkg2 = dir + "/py2/ferry";
  ASSERT_TRUE(MakeDirs(pkg2 + "/core/compute").ok());
  ASSERT_TRUE(WriteFileAtomic(pkg2 + "/__init__.py", "").ok());
  ASSERT_TRUE(WriteFileAtomic(pkg2 + "/core/__init__.py", "x = 2\n").ok());
  ASSERT_TRUE(WriteFileAtomic(pkg2 + "/core/compute/__init__.py", "").ok());
  auto changed = BuildAgentBundle(dir + "/home", dir + "/ferry-bin", dir + "/py2");
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  EXPECT_NE(changed->hash, b->hash);
  (void)RemoveAll(dir);
}

TEST_F(FakeSmi, DiscoversAndFiltersByVisibleDevices) {
  Write(
      "echo '0, Fake GPU, GPU-0, 1000'\necho '1, Fake GPU, GPU-1, 1000'\necho '2, Fake GPU, GPU-2, "
      "1000'\n");
  auto all = DiscoverGpus();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->size(), 3u);
  auto some = DiscoverGpus("2,GPU-0");
  ASSERT_TRUE(some.ok());
  ASSERT_EQ(some->size(), 2u);
  EXPECT_EQ((*some)[0].index, 0);
  EXPECT_EQ((*some)[1].index, 2);
}

TEST_F(FakeSmi, FailingDriverIsAnErrorThatSaysSo) {
  Write(
      "echo 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.'\nexit "
      "9\n");
  auto r = DiscoverGpus();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("exited with code 9"), std::string::npos)
      << r.status().message();
}

TEST_F(FakeSmi, HungNvidiaSmiTimesOut) {
  Write("sleep 30\n");
  auto r = DiscoverGpus("", 300);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("did not finish"), std::string::npos) << r.status().message();
}

TEST_F(FakeSmi, SamplesOnlyTheAskedDevices) {
  Write(
      "for a in \"$@\"; do case $a in --id=*) echo \"${a#--id=}\" > \"$(dirname \"$0\")/ids\";; "
      "esac; done\n"
      "echo '1, 50, 300'\necho '3, 70, 500'\n");
  auto r = SampleGpus({1, 3});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->size(), 2u);
  auto ids = ReadFile(dir_ + "/ids");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, "1,3\n");
}

TEST(Slurm, ParsesSqueueRows) {
  auto rows = ParseSqueue(
      "12|ferry-exp_1_ab|RUNNING|None|2026-11-26T09:00:00\n13|other|PENDING|Resources|2026-11-"
      "26T09:00:01\n"
      "garbage\n");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].id, "12");
  EXPECT_EQ(rows[0].name, "ferry-exp_1_ab");
  EXPECT_EQ(rows[0].state, "RUNNING");
  EXPECT_EQ(rows[1].reason, "Resources");
}

TEST(Slurm, ParsesSacctRows) {
  auto rows = ParseSacct(
      "12|ferry-a|CANCELLED by 0|0:15|2026-11-26T09:00:00\n13|ferry-b|COMPLETED|0:0|x\n\n");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].state, "CANCELLED");
  EXPECT_EQ(rows[0].reason, "0:15");
  EXPECT_EQ(rows[1].reason, "");
}

// squeue and sacct are fakes on PATH here; the real ones are exercised by
// tests/integration/test_slurm.py.
TEST_F(FakeSmi, SlurmAsksSacctOnlyForJobsSqueueNoLongerListsAndOnlyWithAccounting) {
  Write("echo '13|ferry-r2|RUNNING|None|t'\n", "squeue");
  Write(
      "echo \"$@\" > \"$(dirname \"$0\")/sacct.args\"\n"
      "echo '12|ferry-r1|FAILED|2:0|t'\necho '14|other|COMPLETED|0:0|t'\n",
      "sacct");
  std::vector<std::string> handles = {R"({"job_id":"12","name":"ferry-r1"})",
                                      R"({"job_id":"13","name":"ferry-r2"})",
                                      R"({"job_id":"14","name":"ferry-r3"})"};
  SlurmTargetConfig c;
  c.shared_dir = dir_ + "/shared";
  c.facts_json = R"({"AccountingStorageType":"accounting_storage/slurmdbd"})";
  auto t = MakeSlurmTarget("hpc", c, {});
  auto states = t->Poll(handles);
  ASSERT_EQ(states.size(), 3u);
  EXPECT_EQ(states[0], JobState::kGone);
  EXPECT_EQ(states[1], JobState::kAlive);
  EXPECT_EQ(states[2], JobState::kGone);
  EXPECT_NE(t->GoneReason(handles[0]).find("ended as FAILED (exit code 2:0)"), std::string::npos)
      << t->GoneReason(handles[0]);
  // Job 14's id now belongs to another job: not ours to describe.
  EXPECT_EQ(t->GoneReason(handles[2]).find("from sacct"), std::string::npos)
      << t->GoneReason(handles[2]);
  auto args = ReadFile(dir_ + "/sacct.args");
  ASSERT_TRUE(args.ok());
  EXPECT_NE(args->find("-j 12,14"), std::string::npos) << *args;  // one call for both

  (void)RemoveAll(dir_ + "/sacct.args");
  c.facts_json = R"({"AccountingStorageType":"accounting_storage/none"})";
  auto none = MakeSlurmTarget("hpc", c, {});
  EXPECT_EQ(none->Poll(handles)[0], JobState::kGone);
  EXPECT_FALSE(PathExists(dir_ + "/sacct.args"));
}

TEST(SshClient, ErrorsCarryNoCarriageReturnOfSshsStderr) {
  SshResult unreachable;
  unreachable.exit_code = 255;
  unreachable.err = "ssh: connect to host gpu1 port 22: Connection refused\r\nmore\r\n";
  SshClient::Classify(&unreachable, "ana@gpu1:22");
  EXPECT_EQ(unreachable.failure, SshFailure::kUnreachable);
  EXPECT_EQ(unreachable.message,
            "cannot reach ana@gpu1:22: ssh: connect to host gpu1 port 22: "
            "Connection refused");
  SshResult denied;
  denied.exit_code = 255;
  denied.err = "ana@gpu1: Permission denied (publickey,password).\r\n";
  SshClient::Classify(&denied, "ana@gpu1:22");
  EXPECT_EQ(denied.failure, SshFailure::kAuth);
  EXPECT_EQ(denied.message.find('\r'), std::string::npos) << denied.message;
  EXPECT_EQ(denied.err, "ana@gpu1: Permission denied (publickey,password).\n");
}

}  // namespace
}  // namespace ferry::compute
