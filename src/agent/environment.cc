// Managed environments: uv or venv + pip (or conda/micromamba), keyed and locked per node.
#include "agent/environment.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <map>
#include <sstream>

#include "common/crypto.h"
#include "common/fs.h"
#include "common/subprocess.h"
#include "runconfig/conda_env.h"

namespace ferry::agent {
namespace {

void Log(int fd, const std::string& line) {
  if (fd >= 0) (void)WriteAll(fd, "[ferry] " + line + "\n", "log");
}

std::string Getenv(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// The environment build tools run with: the node's pip settings apply to uv as well (an
// administrator's PIP_INDEX_URL or offline wheel directory), unless uv's own are set.
std::map<std::string, std::string> ToolEnv() {
  std::map<std::string, std::string> env = {
      {"PIP_DISABLE_PIP_VERSION_CHECK", "1"}, {"PYTHONUNBUFFERED", "1"}, {"PIP_NO_INPUT", "1"}};
  auto map = [&](const char* pip, const char* uv, bool list) {
    std::string v = Getenv(pip);
    if (v.empty() || !Getenv(uv).empty()) return;
    if (list) {
      for (auto& c : v) c = (c == ' ') ? ',' : c;  // pip: space-separated; uv: comma-separated
    }
    if (std::string(pip) == "PIP_NO_INDEX")
      v = (v == "0" || v == "false" || v == "no") ? "false" : "true";
    env[uv] = v;
  };
  map("PIP_INDEX_URL", "UV_INDEX_URL", false);
  map("PIP_EXTRA_INDEX_URL", "UV_EXTRA_INDEX_URL", true);
  map("PIP_FIND_LINKS", "UV_FIND_LINKS", true);
  map("PIP_NO_INDEX", "UV_NO_INDEX", false);
  return env;
}

std::vector<std::string> Wrap(const BuildExec& exec, std::vector<std::string> argv) {
  if (exec.prefix.empty()) return argv;
  std::vector<std::string> out = exec.prefix;
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

// Runs argv (through the exec prefix) with output to log_fd; the exit code.
Result<int> RunLogged(const BuildExec& exec, const std::vector<std::string>& argv,
                      const std::string& cwd, int log_fd) {
  SpawnOptions so;
  so.argv = Wrap(exec, argv);
  so.cwd = exec.prefix.empty() ? cwd : "";
  so.stdout_fd = log_fd;
  so.stderr_fd = log_fd;
  so.env_set = ToolEnv();
  FERRY_ASSIGN_OR_RETURN(Subprocess p, Subprocess::Spawn(so));
  return ExitCodeFromWaitStatus(p.Wait());
}

struct Interpreter {
  std::string python;   // as given (or as found)
  std::string version;  // "3.11.7"
  std::string ident;    // "<version> <machine> <implementation>\n"
};

// "<version> <machine> <implementation>" of an interpreter. Asking it costs a Python start
// (~10 ms, or a container start), so the answer is cached per interpreter file (path, inode,
// size, mtime) or per image.
Result<Interpreter> IdentifyInterpreter(const std::string& python, const EnvironmentRequest& req) {
  const BuildExec& exec = req.exec;
  std::string cache_file;
  std::string cache_root = JoinPath(req.cache_dir, ".interpreters/");
  if (!exec.ident_key.empty()) {
    cache_file = cache_root + Sha256Hex(exec.ident_key + "\n" + python).substr(0, 32);
  } else {
    std::string path = FindOnPath(python);
    if (path.empty()) return Status::NotFound("interpreter '" + python + "' is not on this node");
    char* real = ::realpath(path.c_str(), nullptr);
    std::string resolved = real ? real : path;
    std::free(real);
    struct stat st;
    if (::stat(resolved.c_str(), &st) == 0) {
      std::string id = resolved + "\n" + std::to_string(st.st_ino) + " " +
                       std::to_string(st.st_size) + " " + std::to_string(st.st_mtim.tv_sec) + "." +
                       std::to_string(st.st_mtim.tv_nsec);
      cache_file = cache_root + Sha256Hex(path + "\n" + id).substr(0, 32);
    }
  }
  Interpreter in;
  in.python = python;
  auto cached =
      cache_file.empty() ? Result<std::string>(Status::NotFound("")) : ReadFile(cache_file);
  if (cached.ok() && !cached->empty()) {
    in.ident = std::move(cached).value();
  } else {
    auto ident = RunCommand(
        Wrap(exec, {python, "-c",
                    "import sys, platform; print(sys.version.split()[0], platform.machine(), "
                    "sys.implementation.name)"}),
        "", 120000);
    if (!ident.ok() || ident->exit_code != 0 || ident->out.empty()) {
      return Status::FailedPrecondition(
          "the interpreter '" + python + "' cannot be run" +
          (exec.prefix.empty() ? " on this node" : " in the container") +
          "; set environment.python.interpreterPath");
    }
    in.ident = ident->out;
    if (!cache_file.empty() && MakeDirs(DirName(cache_file)).ok())
      (void)WriteFileAtomic(cache_file, in.ident);
  }
  in.version = in.ident.substr(0, in.ident.find(' '));
  return in;
}

// The spec reduced to what is built: a requirements text for pip/uv, or a conda file.
struct Plan {
  std::string kind;          // "pip" or "conda"
  std::string canonical;     // what the key hashes
  std::string requirements;  // pip: requirement lines (conda's pip: section becomes this)
  std::string conda_tool;    // conda: micromamba | mamba | conda (path)
  std::string pip_note;      // conda packages installed with pip: said when pip fails
  Interpreter interpreter;
};

std::string JoinList(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string FindCondaTool() {
  for (const char* t : {"micromamba", "mamba", "conda"}) {
    std::string p = FindOnPath(t);
    if (!p.empty()) return p;
  }
  return "";
}

Result<Plan> MakePlan(const EnvironmentRequest& req, const std::string& spec) {
  Plan plan;
  if (req.type == "pip") {
    FERRY_ASSIGN_OR_RETURN(plan.interpreter, IdentifyInterpreter(req.base_python, req));
    plan.kind = "pip";
    plan.requirements = spec;
    plan.canonical = "pip\n" + spec;
    return plan;
  }
  FERRY_ASSIGN_OR_RETURN(runconfig::CondaEnvironment env,
                         runconfig::ParseCondaEnvironment(spec, req.spec_name));
  std::vector<std::string> from_conda;  // conda packages as pip requirements
  if (!env.conda_packages.empty()) {
    // The node's conda (or micromamba) builds the whole file; containers and nodes without
    // one get the packages from pip under the same names.
    const bool container = !req.exec.prefix.empty();
    if (!container) plan.conda_tool = FindCondaTool();
    if (!plan.conda_tool.empty()) {
      plan.kind = "conda";
      plan.canonical = "conda\n" + spec;
      return plan;
    }
    std::vector<std::string> conda_only;
    for (const auto& p : env.conda_packages) {
      auto as_pip = runconfig::CondaPackageAsPip(p);
      if (as_pip.ok()) {
        from_conda.push_back(*as_pip);
      } else {
        conda_only.push_back(p);
      }
    }
    if (!conda_only.empty()) {
      return Status::FailedPrecondition(
          req.spec_name + " asks for conda packages that pip cannot install (" +
          JoinList(conda_only) + ") but " +
          (container ? std::string("Ferry does not run conda inside containers; use an image "
                                   "that has them")
                     : std::string("this node has no conda, mamba or micromamba on its PATH; "
                                   "install one of them on the target")) +
          ", or remove them from the file");
    }
    Log(req.log_fd, std::string(container ? "conda is not used inside containers"
                                          : "this node has no conda, mamba or micromamba") +
                        ": installing the conda packages " + JoinList(env.conda_packages) +
                        " with pip as " + JoinList(from_conda));
    plan.pip_note = "; the conda packages (" + JoinList(env.conda_packages) +
                    ") were installed with pip under the same names: one pip cannot find needs "
                    "conda, mamba or micromamba on the target, or its pip name in the pip: section";
  }
  // Only python and a pip: section: a virtual environment from an interpreter of that version.
  plan.kind = "pip";
  std::vector<std::string> candidates = {req.base_python};
  if (!env.python.empty()) {
    std::string v = env.python;
    size_t i = v.find_first_of("0123456789");
    if (i != std::string::npos) {
      std::string digits = v.substr(i);
      size_t dot = digits.find('.');
      size_t end = dot == std::string::npos ? std::string::npos
                                            : digits.find_first_not_of("0123456789", dot + 1);
      candidates.push_back("python" + digits.substr(0, end));
    }
  }
  std::string tried;
  for (const auto& c : candidates) {
    auto in = IdentifyInterpreter(c, req);
    if (!in.ok()) continue;
    if (runconfig::PythonVersionMatches(env.python, in->version)) {
      plan.interpreter = *in;
      break;
    }
    tried += (tried.empty() ? "" : ", ") + c + " is " + in->version;
  }
  if (plan.interpreter.python.empty()) {
    return Status::FailedPrecondition(
        req.spec_name + " asks for python" + env.python + " but " +
        (tried.empty() ? "no interpreter was found" : tried) +
        "; install that version on the target (or name it with "
        "environment.python.interpreterPath), or use conda/micromamba");
  }
  for (auto& line : from_conda) plan.requirements += line + "\n";
  std::vector<std::string> skipped;
  for (auto& line : env.pip) {
    if (runconfig::IsSdkRequirement(line)) {
      skipped.push_back(line);
    } else {
      plan.requirements += line + "\n";
    }
  }
  if (!skipped.empty()) {
    Log(req.log_fd, "not installing " + JoinList(skipped) +
                        " (Azure ML's SDK): runs get the ferry package from Ferry");
  }
  plan.canonical = "conda-pip\npython" + env.python + "\n" + plan.requirements;
  return plan;
}

}  // namespace

Result<Environment> EnsureEnvironment(const EnvironmentRequest& req) {
  FERRY_ASSIGN_OR_RETURN(std::string spec, ReadFile(req.spec_path));
  FERRY_RETURN_IF_ERROR(MakeDirs(req.cache_dir));
  FERRY_ASSIGN_OR_RETURN(Plan plan, MakePlan(req, spec));
  Environment env;
  env.key = Sha256Hex("ferry-env-v2\n" + plan.interpreter.ident + plan.canonical).substr(0, 32);
  const std::string host_dir = JoinPath(req.cache_dir, env.key);
  const std::string dir =
      req.exec.prefix.empty() ? host_dir : JoinPath(req.exec.cache_dir, env.key);
  std::string lock_path = host_dir + ".lock";
  UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!lock.valid()) return ErrnoStatus("cannot open", lock_path, errno);
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    Log(req.log_fd, "waiting for another run that is building environment " + env.key);
    while (::flock(lock.get(), LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  env.python = JoinPath(dir, "bin/python");
  std::string ready = JoinPath(host_dir, ".ferry-ready");
  std::string freeze_path = JoinPath(host_dir, ".ferry-freeze");
  if (PathExists(ready)) {
    env.reused = true;
    auto marker = ReadFile(ready);
    if (marker.ok()) {
      std::istringstream in(*marker);
      std::string key;
      in >> key >> env.builder;
    }
    auto frozen = ReadFile(freeze_path);
    if (frozen.ok()) env.freeze = std::move(frozen).value();
    Log(req.log_fd, "reusing environment " + env.key);
    return env;
  }
  // Not complete: whatever is there is a failed or interrupted build.
  FERRY_RETURN_IF_ERROR(RemoveAll(host_dir));
  auto fail = [&](const std::string& what) -> Status {
    (void)RemoveAll(host_dir);
    return Status::FailedPrecondition(what);
  };

  if (plan.kind == "conda") {
    env.builder = plan.conda_tool.substr(plan.conda_tool.rfind('/') + 1);
    Log(req.log_fd,
        "building environment " + env.key + " from " + req.spec_name + " with " + env.builder);
    std::vector<std::string> argv =
        env.builder == "micromamba"
            ? std::vector<std::string>{plan.conda_tool, "create", "-y", "-p", dir, "-f",
                                       req.spec_path}
            : std::vector<std::string>{plan.conda_tool, "env", "create", "-p", dir, "-f",
                                       req.spec_path};
    FERRY_ASSIGN_OR_RETURN(int rc, RunLogged(req.exec, argv, req.work_dir, req.log_fd));
    if (rc != 0)
      return fail(env.builder + " could not create the environment from " + req.spec_name +
                  " (exit code " + std::to_string(rc) + ")");
    auto list = RunCommand({plan.conda_tool, "list", "-p", dir, "--export"}, "", 120000);
    env.freeze = list.ok() ? list->out : "";
  } else {
    // Requirements as a file in the cache: a conda file's pip: section has no file of its own,
    // and the cache is visible to a container build too.
    std::string req_arg = req.spec_path;
    if (req.type == "pip" && !req.exec.prefix.empty() && !req.spec_in_work.empty()) {
      req_arg =
          JoinPath(req.exec.work_dir, req.spec_in_work);  // pip resolves "-r other.txt" next to it
    } else if (req.type != "pip" || !req.exec.prefix.empty()) {
      FERRY_RETURN_IF_ERROR(WriteFileAtomic(host_dir + ".requirements.txt", plan.requirements));
      req_arg = dir + ".requirements.txt";
    }
    std::string uv =
        req.exec.prefix.empty() && Getenv("FERRY_ENV_BUILDER") != "pip" ? FindOnPath("uv") : "";
    if (Getenv("FERRY_ENV_BUILDER") == "uv" && uv.empty()) {
      return Status::FailedPrecondition("FERRY_ENV_BUILDER=uv but uv is not on this node's PATH");
    }
    env.builder = uv.empty() ? "pip" : "uv";
    Log(req.log_fd, "building environment " + env.key + " from " + req.spec_name + " with " +
                        env.builder + " (python " + plan.interpreter.version + ")");
    const std::string& base = plan.interpreter.python;
    if (!uv.empty()) {
      std::string base_path = base.find('/') == std::string::npos ? FindOnPath(base) : base;
      FERRY_ASSIGN_OR_RETURN(
          int rc, RunLogged(req.exec, {uv, "venv", "--quiet", "--python", base_path, dir},
                            req.work_dir, req.log_fd));
      if (rc != 0) return fail("'uv venv' failed with exit code " + std::to_string(rc));
      FERRY_ASSIGN_OR_RETURN(
          rc, RunLogged(req.exec, {uv, "pip", "install", "--python", env.python, "-r", req_arg},
                        req.work_dir, req.log_fd));
      if (rc != 0)
        return fail("uv pip install -r " + req.spec_name + " failed with exit code " +
                    std::to_string(rc) + plan.pip_note);
      auto freeze = RunCommand({uv, "pip", "freeze", "--python", env.python}, "", 120000);
      env.freeze = freeze.ok() ? freeze->out : "";
    } else {
      FERRY_ASSIGN_OR_RETURN(
          int rc, RunLogged(req.exec, {base, "-m", "venv", dir}, req.work_dir, req.log_fd));
      if (rc != 0)
        return fail("'" + base + " -m venv' failed with exit code " + std::to_string(rc));
      FERRY_ASSIGN_OR_RETURN(
          rc, RunLogged(req.exec, {env.python, "-m", "pip", "install", "-r", req_arg}, req.work_dir,
                        req.log_fd));
      if (rc != 0)
        return fail("pip install -r " + req.spec_name + " failed with exit code " +
                    std::to_string(rc) + plan.pip_note);
      auto freeze = RunCommand(Wrap(req.exec, {env.python, "-m", "pip", "freeze"}), "", 120000);
      env.freeze = freeze.ok() ? freeze->out : "";
    }
  }
  FERRY_RETURN_IF_ERROR(WriteFileAtomic(freeze_path, env.freeze));
  FERRY_RETURN_IF_ERROR(
      WriteFileAtomic(ready, env.key + " " + env.builder + "\n"));  // last: marks it complete
  Log(req.log_fd, "built environment " + env.key);
  return env;
}

}  // namespace ferry::agent
