// Managed environments: python -m venv + pip, keyed and locked per node.
#include "agent/environment.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

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

// "<version> <machine> <implementation>" of an interpreter. Asking it costs a Python start
// (~10 ms), so the answer is cached per interpreter file (path, inode, size, mtime).
Result<std::string> IdentifyInterpreter(const std::string& python, const std::string& cache_dir) {
  std::string path = FindOnPath(python);
  if (path.empty()) {
    return Status::FailedPrecondition("the base interpreter '" + python +
                                      "' is not on this node; set environment.python.interpreterPath");
  }
  char* real = ::realpath(path.c_str(), nullptr);
  std::string resolved = real ? real : path;
  std::free(real);
  struct stat st;
  std::string cache_file;
  if (::stat(resolved.c_str(), &st) == 0) {
    std::string id = resolved + "\n" + std::to_string(st.st_ino) + " " + std::to_string(st.st_size) + " " +
                     std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
    cache_file = JoinPath(cache_dir, ".interpreters/" + Sha256Hex(path + "\n" + id).substr(0, 32));
    auto cached = ReadFile(cache_file);
    if (cached.ok() && !cached->empty()) return std::move(cached).value();
  }
  auto ident = RunCommand({python, "-c",
                           "import sys, platform; print(sys.version.split()[0], platform.machine(), sys.implementation.name)"});
  if (!ident.ok() || ident->exit_code != 0 || ident->out.empty()) {
    return Status::FailedPrecondition("the base interpreter '" + python +
                                      "' cannot be run on this node; set environment.python.interpreterPath");
  }
  if (!cache_file.empty() && MakeDirs(DirName(cache_file)).ok()) (void)WriteFileAtomic(cache_file, ident->out);
  return ident->out;
}

}  // namespace

Result<Environment> EnsureEnvironment(const EnvironmentRequest& req) {
  FERRY_ASSIGN_OR_RETURN(std::string requirements, ReadFile(req.requirements_path));
  FERRY_RETURN_IF_ERROR(MakeDirs(req.cache_dir));
  FERRY_ASSIGN_OR_RETURN(std::string ident, IdentifyInterpreter(req.base_python, req.cache_dir));
  Environment env;
  env.key = Sha256Hex("ferry-env-v1\n" + ident + requirements).substr(0, 32);
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
