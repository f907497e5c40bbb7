// Managed environments: python -m venv + pip, keyed and locked per node.
#include "agent/environment.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

#include "common/crypto.h"
#include "common/fs.h"
#include "common/subprocess.h"

namespace ferry::agent {
namespace {

void Log(int fd, const std::string& line) {
  if (fd >= 0) (void)WriteAll(fd, "[ferry] " + line + "\n", "log");
}

// Runs argv with output to log_fd; the exit code.
Result<int> RunLogged(const std::vector<std::string>& argv, int log_fd) {
  SpawnOptions so;
  so.argv = argv;
  so.stdout_fd = log_fd;
  so.stderr_fd = log_fd;
  so.env_set["PIP_DISABLE_PIP_VERSION_CHECK"] = "1";
  so.env_set["PYTHONUNBUFFERED"] = "1";
  FERRY_ASSIGN_OR_RETURN(Subprocess p, Subprocess::Spawn(so));
  return ExitCodeFromWaitStatus(p.Wait());
}

}  // namespace

Result<Environment> EnsureEnvironment(const EnvironmentRequest& req) {
  FERRY_ASSIGN_OR_RETURN(std::string requirements, ReadFile(req.requirements_path));
  auto ident = RunCommand({req.base_python, "-c",
                           "import sys, platform; print(sys.version.split()[0], platform.machine(), sys.implementation.name)"});
  if (!ident.ok() || ident->exit_code != 0) {
    return Status::FailedPrecondition("the base interpreter '" + req.base_python +
                                      "' cannot be run on this node; set environment.python.interpreterPath");
  }
  Environment env;
  env.key = Sha256Hex("ferry-env-v1\n" + ident->out + requirements).substr(0, 32);
  FERRY_RETURN_IF_ERROR(MakeDirs(req.cache_dir));
  std::string dir = JoinPath(req.cache_dir, env.key);
  std::string lock_path = dir + ".lock";
  UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!lock.valid()) return ErrnoStatus("cannot open", lock_path, errno);
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    Log(req.log_fd, "waiting for another run that is building environment " + env.key);
    while (::flock(lock.get(), LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  env.python = JoinPath(dir, "bin/python");
  std::string ready = JoinPath(dir, ".ferry-ready");
  std::string freeze_path = JoinPath(dir, ".ferry-freeze");
  if (PathExists(ready)) {
    env.reused = true;
    auto frozen = ReadFile(freeze_path);
    if (frozen.ok()) env.freeze = std::move(frozen).value();
    Log(req.log_fd, "reusing environment " + env.key);
    return env;
  }
  // Not complete: whatever is there is a failed or interrupted build.
  FERRY_RETURN_IF_ERROR(RemoveAll(dir));
  Log(req.log_fd, "building environment " + env.key + " from " + req.requirements_path);
  FERRY_ASSIGN_OR_RETURN(int venv_rc, RunLogged({req.base_python, "-m", "venv", dir}, req.log_fd));
  if (venv_rc != 0) {
    (void)RemoveAll(dir);
    return Status::FailedPrecondition("'" + req.base_python + " -m venv' failed with exit code " + std::to_string(venv_rc));
  }
  FERRY_ASSIGN_OR_RETURN(int pip_rc, RunLogged({env.python, "-m", "pip", "install", "-r", req.requirements_path}, req.log_fd));
  if (pip_rc != 0) {
    (void)RemoveAll(dir);
    return Status::FailedPrecondition("pip install -r " + req.requirements_path + " failed with exit code " +
                                      std::to_string(pip_rc));
  }
  auto freeze = RunCommand({env.python, "-m", "pip", "freeze"});
  env.freeze = freeze.ok() ? freeze->out : "";
  FERRY_RETURN_IF_ERROR(WriteFileAtomic(freeze_path, env.freeze));
  FERRY_RETURN_IF_ERROR(WriteFileAtomic(ready, env.key + "\n"));  // last: marks it complete
  Log(req.log_fd, "built environment " + env.key);
  return env;
}

}  // namespace ferry::agent
