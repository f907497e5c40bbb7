// Unit tests of the managed cluster's pure logic: the autoscaler's decisions (made-up Slurm
// and provider states) and the slurm.conf it is driven by. The real thing runs in
// tests/integration/test_clusters.py.
#include "compute/cluster/cluster.h"

#include <gtest/gtest.h>

#include "compute/cluster/autoscaler.h"

namespace ferry::compute {
namespace {

AutoscaleNode Node(int i, const std::string& slurm, const std::string& provider, double since = 0,
                   double idle = 0) {
  return {"c-" + std::to_string(i), i, slurm, provider, since, idle};
}

AutoscaleInput Cluster(int min, int max) {
  AutoscaleInput in;
  in.now = 1000;
  in.min_nodes = min;
  in.max_nodes = max;
  in.cpus_per_node = 2;
  in.idle_seconds = 60;
  in.start_timeout = 120;
  for (int i = 1; i <= max; ++i) in.nodes.push_back(Node(i, "down*", "stopped"));
  return in;
}

TEST(Autoscaler, StartsWhatWaitingJobsNeedUpToTheMaximum) {
  auto in = Cluster(0, 3);
  EXPECT_TRUE(DecideScaling(in).start.empty());  // nothing waits: nothing starts
  in.pending = {{1, 2}, {1, 2}};                 // two jobs, each a whole node
  EXPECT_EQ(DecideScaling(in).start, (std::vector<std::string>{"c-1", "c-2"}));
  in.pending = {{1, 1}, {1, 1}};  // two single-CPU jobs share one node
  EXPECT_EQ(DecideScaling(in).start.size(), 1u);
  in.pending = {{5, 10}};  // more than the maximum: the maximum
  EXPECT_EQ(DecideScaling(in).start.size(), 3u);
}

TEST(Autoscaler, CountsStartingAndIdleNodesAgainstTheNeed) {
  auto in = Cluster(0, 3);
  in.pending = {{1, 2}, {1, 2}};
  in.nodes[0] = Node(1, "down*", "starting", 990);
  in.nodes[1] = Node(2, "down*", "started", 995);  // started, not registered yet
  EXPECT_TRUE(DecideScaling(in).start.empty());
  in.nodes[1] = Node(2, "idle", "started", 995, 999);
  EXPECT_TRUE(DecideScaling(in).start.empty());
}

TEST(Autoscaler, KeepsTheMinimumAndStopsIdleNodesAboveIt) {
  auto in = Cluster(1, 3);
  auto d = DecideScaling(in);
  EXPECT_EQ(d.start, (std::vector<std::string>{"c-1"}));
  in.nodes[0] = Node(1, "idle", "started", 100, 100);
  in.nodes[1] = Node(2, "idle", "started", 100, 100);
  in.nodes[2] = Node(3, "idle", "started", 100, 990);  // idle only 10 s
  d = DecideScaling(in);
  EXPECT_TRUE(d.start.empty());
  // c-3 has not been idle long enough and stays: it is the minimum then.
  EXPECT_EQ(d.stop, (std::vector<std::string>{"c-2", "c-1"}));
  in.pending = {{1, 2}};  // a waiting job: nothing is stopped
  EXPECT_TRUE(DecideScaling(in).stop.empty());
  in.pending.clear();
  in.nodes[1] = Node(2, "allocated", "started", 100);
  in.nodes[2] = Node(3, "mixed", "started", 100);
  EXPECT_EQ(DecideScaling(in).stop,
            (std::vector<std::string>{"c-1"}));  // busy nodes are the minimum
  in.nodes[2] = Node(3, "down*", "stopped");
  EXPECT_EQ(DecideScaling(in).stop,
            (std::vector<std::string>{"c-1"}));  // busy c-2 keeps the minimum
  in.nodes[1] = Node(2, "down*", "stopped");
  EXPECT_TRUE(DecideScaling(in).stop.empty());  // the last node up is the minimum
}

TEST(Autoscaler, FailsNodesThatNeverRegisterAndRetriesFailedOnesLater) {
  auto in = Cluster(0, 2);
  in.pending = {{1, 2}};
  in.nodes[0] = Node(1, "down*", "started", 800);  // 200 s > start timeout 120
  auto d = DecideScaling(in);
  ASSERT_EQ(d.fail.count("c-1"), 1u);
  EXPECT_NE(d.fail["c-1"].find("did not register"), std::string::npos);
  EXPECT_EQ(d.stop, (std::vector<std::string>{"c-1"}));
  EXPECT_EQ(d.start, (std::vector<std::string>{"c-2"}));  // the other one instead
  in.nodes[0] = Node(1, "down*", "failed", 990);          // failed 10 s ago: not yet
  in.nodes[1] = Node(2, "down*", "failed", 900);          // 100 s ago: again
  EXPECT_EQ(DecideScaling(in).start, (std::vector<std::string>{"c-2"}));
}

TEST(ClusterConfig, SlurmConfHasEveryNodeAndPerNodePathsForNetns) {
  ClusterConfig c;
  c.name = "My_GPUs";
  c.min_nodes = 0;
  c.max_nodes = 2;
  c.cpus = 4;
  c.memory_mb = 8000;
  c.provider = "netns";
  c.subnet = "10.78.3";
  c.dir = "/w/clusters/My_GPUs";
  c.slurmctld_port = 7001;
  c.controller_address = "10.78.3.1";
  EXPECT_EQ(c.NodeName(2), "my-gpus-2");
  EXPECT_EQ(c.NodeIndex("my-gpus-2"), 2);
  EXPECT_EQ(c.NodeIndex("other-2"), 0);
  std::string conf = c.SlurmConf("head");
  EXPECT_NE(conf.find("SlurmctldHost=head(10.78.3.1)\nSlurmctldPort=7001\n"), std::string::npos)
      << conf;
  EXPECT_NE(
      conf.find(
          "NodeName=my-gpus-2 NodeAddr=10.78.3.11 NodeHostname=my-gpus-2 CPUs=4 RealMemory=8000\n"),
      std::string::npos)
      << conf;
  EXPECT_NE(conf.find("SlurmdSpoolDir=" + c.RunDir() + "/spool/%n"), std::string::npos);
  EXPECT_LT(c.RunDir().size(), 40u);  // slurmstepd's sockets live there
  // A long name (a run-based cluster's: the run's id) still gives node names that keep the
  // step sockets' paths (spool/<node>/<node>_<job>.<step>) within a Unix socket's 107 bytes.
  ClusterConfig longer = c;
  longer.name = "Run-Based_1796664343_79c55ed8";
  ClusterConfig other = c;
  other.name = "Run-Based_1796664343_0000aaaa";
  EXPECT_EQ(longer.NodeName(200).size(), 26u);
  EXPECT_EQ(longer.NodeName(1).rfind("run-based-179-", 0), 0u) << longer.NodeName(1);
  EXPECT_NE(longer.NodeName(1), other.NodeName(1));
  EXPECT_EQ(longer.NodeIndex(longer.NodeName(7)), 7);
  std::string socket = longer.RunDir() + "/spool/" + longer.NodeName(200) + "/" +
                       longer.NodeName(200) + "_9999999.4294967291";
  EXPECT_LE(socket.size(), 107u) << socket;
  EXPECT_NE(conf.find("ReturnToService=2"), std::string::npos);
  EXPECT_NE(conf.find("PartitionName=my_gpus Nodes=ALL Default=YES"), std::string::npos) << conf;
  EXPECT_EQ(conf.find("Gres="), std::string::npos);
  c.provider = "command";
  c.gpus = 2;
  conf = c.SlurmConf("head");
  EXPECT_NE(conf.find("NodeName=my-gpus-1 CPUs=4 RealMemory=8000 Gres=gpu:2\n"), std::string::npos)
      << conf;
  EXPECT_EQ(conf.find("8000 State="),
            std::string::npos);  // a restart keeps the nodes' saved states
  EXPECT_NE(conf.find("GresTypes=gpu"), std::string::npos);
  EXPECT_EQ(conf.find("%n"), std::string::npos);  // real nodes: Slurm's default paths
}

TEST(ClusterConfig, ValidationNamesTheField) {
  ClusterConfig c;
  c.provider = "netns";
  c.min_nodes = 3;
  c.max_nodes = 2;
  EXPECT_NE(ValidateCluster(c).message().find("--min-nodes (3) is more than --max-nodes (2)"),
            std::string::npos);
  c.min_nodes = 0;
  c.provider = "aws";
  EXPECT_NE(ValidateCluster(c).message().find("--provider: 'aws'"), std::string::npos);
  c.provider = "command";
  EXPECT_NE(ValidateCluster(c).message().find("--start-command"), std::string::npos);
  c.start_command = c.stop_command = "true";
  EXPECT_TRUE(ValidateCluster(c).ok());
}

}  // namespace
}  // namespace ferry::compute
