// podman/docker command lines for container runs.
#include "agent/container.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>

#include "common/fs.h"
#include "common/subprocess.h"

namespace ferry::agent {
namespace {

// Variables that configure pip/uv on the node: passed into build containers so an offline
// wheel directory or a private index works there too.
constexpr const char* kToolVars[] = {"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS",
                                     "PIP_NO_INDEX",  "PIP_TRUSTED_HOST",    "PIP_CERT"};

std::vector<std::string> CommonArgs(const ContainerRun& c) {
  std::vector<std::string> a = {c.engine, "run", "--rm", "--network=host"};
  if (c.engine_kind == "podman") a.push_back("--pull=never");  // resolved (or pulled) already
  a.insert(a.end(), {"-v", c.work_host + ":" + kContainerWork, "-v",
                     c.envs_host + ":" + kContainerEnvs, "-w", kContainerWork});
  return a;
}

}  // namespace

Result<ContainerRun> PrepareContainer(const model::DockerOptions& docker, const std::string& run_id,
                                      int log_fd) {
  ContainerRun c;
  c.docker = docker;
  c.image = docker.base_image;
  c.name = "ferry-" + run_id;
  for (const char* e : {"podman", "docker"}) {
    std::string p = FindOnPath(e);
    if (!p.empty()) {
      c.engine = p;
      c.engine_kind = e;
      break;
    }
  }
  if (c.engine.empty()) {
    return Status::FailedPrecondition(
        "the run asks for a container (docker.enabled) but this node has neither podman "
        "nor docker on its PATH; install one, or set docker.enabled: false");
  }
  auto inspect = [&] {
    return RunCommand({c.engine, "image", "inspect", "--format", "{{.Id}}", c.image}, "", 60000);
  };
  auto id = inspect();
  if (!id.ok()) return id.status().WithContext(c.engine_kind + " image inspect");
  if (id->exit_code != 0) {
    if (log_fd >= 0)
      (void)WriteAll(log_fd, "[ferry] image " + c.image + " is not on this node; pulling it\n",
                     "log");
    SpawnOptions so;
    so.argv = {c.engine, "pull", c.image};
    so.stdout_fd = log_fd;
    so.stderr_fd = log_fd;
    FERRY_ASSIGN_OR_RETURN(Subprocess p, Subprocess::Spawn(so));
    int rc = ExitCodeFromWaitStatus(p.Wait());
    if (rc != 0) {
      return Status::FailedPrecondition(
          "image '" + c.image + "' is not on this node and '" + c.engine_kind +
          " pull' failed (exit code " + std::to_string(rc) +
          "); pull or import the image on the target, or fix docker.baseImage");
    }
    id = inspect();
    if (!id.ok() || id->exit_code != 0)
      return Status::FailedPrecondition("image '" + c.image + "' is still missing after a pull");
  }
  c.image_id = id->out.substr(0, id->out.find_first_of("\r\n"));
  if (c.image_id.rfind("sha256:", 0) == 0) c.image_id = c.image_id.substr(7);
  // An init process forwards SIGTERM to the script (a PID 1 without a handler ignores it):
  // docker ships tini; podman needs catatonit.
  c.init = c.engine_kind == "docker" || !FindOnPath("catatonit").empty() ||
           PathExists("/usr/libexec/podman/catatonit");
  return c;
}

BuildExec ContainerBuildExec(const ContainerRun& c) {
  BuildExec exec;
  exec.prefix = CommonArgs(c);
  for (const char* var : kToolVars) {
    const char* v = std::getenv(var);
    if (!v || !*v) continue;
    exec.prefix.insert(exec.prefix.end(), {"-e", std::string(var) + "=" + v});
    if (std::string(var) == "PIP_FIND_LINKS") {
      // Local wheel directories must be visible inside the container, at the same path.
      std::string links = v;
      size_t pos = 0;
      while (pos <= links.size()) {
        size_t sp = links.find(' ', pos);
        std::string one = links.substr(pos, sp == std::string::npos ? std::string::npos : sp - pos);
        if (!one.empty() && one[0] == '/' && PathExists(one))
          exec.prefix.insert(exec.prefix.end(), {"-v", (one + ":").append(one).append(":ro")});
        if (sp == std::string::npos) break;
        pos = sp + 1;
      }
    }
  }
  exec.prefix.insert(exec.prefix.end(),
                     {"-e", "PIP_DISABLE_PIP_VERSION_CHECK=1", "-e", "PIP_NO_INPUT=1", c.image_id});
  exec.cache_dir = kContainerEnvs;
  exec.work_dir = kContainerWork;
  exec.ident_key = "image:" + c.image_id;
  return exec;
}

std::vector<std::string> ContainerRunArgv(const ContainerRun& c,
                                          const std::map<std::string, std::string>& env,
                                          const std::vector<std::string>& command) {
  std::vector<std::string> a = CommonArgs(c);
  a.insert(a.end(), {"--name", c.name, "-v", c.metrics_host + ":" + kContainerMetrics});
  if (c.init) a.push_back("--init");
  if (!c.python_pkg_host.empty())
    a.insert(a.end(), {"-v", c.python_pkg_host + ":" + kContainerPython + ":ro"});
  for (const auto& p : c.data_ro) a.insert(a.end(), {"-v", p + ":" + p + ":ro"});
  for (const auto& p : c.data_rw) a.insert(a.end(), {"-v", p + ":" + p});
  if (!c.docker.shm_size.empty()) a.push_back("--shm-size=" + c.docker.shm_size);
  if (!c.gpus.empty()) {
    std::string ids;
    for (size_t i = 0; i < c.gpus.size(); ++i) ids += (i ? "," : "") + std::to_string(c.gpus[i]);
    if (c.engine_kind == "docker") {
      a.push_back("--gpus=\"device=" + ids + "\"");
    } else {
      for (int g : c.gpus) a.push_back("--device=nvidia.com/gpu=" + std::to_string(g));  // CDI
    }
  }
  for (auto& [k, v] : env) a.insert(a.end(), {"-e", (k + "=").append(v)});
  a.insert(a.end(), c.docker.arguments.begin(), c.docker.arguments.end());
  a.push_back(c.image_id);
  a.insert(a.end(), command.begin(), command.end());
  return a;
}

void SignalContainer(const ContainerRun& c, int sig) {
  (void)RunCommand({c.engine, "kill", "--signal", sig == SIGKILL ? "KILL" : "TERM", c.name}, "",
                   20000);
}

int ContainerPid(const ContainerRun& c) {
  auto r = RunCommand({c.engine, "inspect", "--format", "{{.State.Pid}}", c.name}, "", 10000);
  if (!r.ok() || r->exit_code != 0) return 0;
  return std::atoi(r->out.c_str());
}

std::vector<std::string> RemoveContainerArgv(const ContainerRun& c) {
  if (c.engine_kind == "podman") return {c.engine, "rm", "-f", "-t", "0", c.name};
  return {c.engine, "rm", "-f", c.name};
}

void RemoveContainer(const ContainerRun& c) { (void)RunCommand(RemoveContainerArgv(c), "", 30000); }

}  // namespace ferry::agent
