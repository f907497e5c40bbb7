// The agent bundle copied to remote hosts and cluster shared directories.
#include "compute/bundle.h"

#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <vector>

#include "common/crypto.h"
#include "common/fs.h"
#include "common/subprocess.h"

namespace ferry::compute {

Result<AgentBundle> BuildAgentBundle(const std::string& home, const std::string& ferry,
                                     const std::string& pydir) {
  static std::mutex mu;
  static std::map<std::string, AgentBundle> cache;
  std::lock_guard lock(mu);
  std::string key = ferry + "\n" + pydir;
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  Sha256 h;
  FERRY_ASSIGN_OR_RETURN(std::string bin_hash, Sha256File(ferry));
  h.Update(bin_hash);
  // The package's .py files, subpackages included (ferry.core, ferry.data...), as paths
  // relative to it; caches and anything else stay behind.
  std::vector<std::string> py_files;
  std::string pkg = JoinPath(pydir, "ferry");
  std::vector<std::string> dirs = {""};
  while (!dirs.empty()) {
    std::string rel = std::move(dirs.back());
    dirs.pop_back();
    auto names = ListDir(rel.empty() ? pkg : JoinPath(pkg, rel));
    if (!names.ok()) continue;
    for (auto& n : *names) {
      std::string path = rel.empty() ? n : rel + "/" + n;
      struct stat st {};
      if (::lstat(JoinPath(pkg, path).c_str(), &st) != 0) continue;
      if (S_ISDIR(st.st_mode) && n != "__pycache__" && n[0] != '.') {
        dirs.push_back(path);
      } else if (S_ISREG(st.st_mode) && n.size() > 3 && n.substr(n.size() - 3) == ".py") {
        py_files.push_back(path);
      }
    }
  }
  std::sort(py_files.begin(), py_files.end());
  for (auto& n : py_files) {
    FERRY_ASSIGN_OR_RETURN(std::string f, Sha256File(JoinPath(pkg, n)));
    h.Update(n + " " + f + "\n");
  }
  AgentBundle b;
  b.hash = h.HexDigest().substr(0, 16);
  std::string stage = JoinPath(home, "ssh/bundle-" + b.hash);
  if (!PathExists(JoinPath(stage, "bin/ferry"))) {
    std::string tmp = stage + ".tmp";
    FERRY_RETURN_IF_ERROR(RemoveAll(tmp));
    FERRY_RETURN_IF_ERROR(MakeDirs(JoinPath(tmp, "bin")));
    FERRY_RETURN_IF_ERROR(MakeDirs(JoinPath(tmp, "share/ferry/python/ferry")));
    auto strip =
        RunCommand({"objcopy", "--strip-debug", ferry, JoinPath(tmp, "bin/ferry")}, "", 120000);
    if (!strip.ok() || strip->exit_code != 0) {
      auto cp = RunCommand({"cp", ferry, JoinPath(tmp, "bin/ferry")}, "", 120000);
      if (!cp.ok() || cp->exit_code != 0)
        return Status::IoError("cannot stage the agent binary " + ferry);
    }
    ::chmod(JoinPath(tmp, "bin/ferry").c_str(), 0755);
    for (auto& n : py_files) {
      FERRY_ASSIGN_OR_RETURN(std::string text, ReadFile(JoinPath(pkg, n)));
      const std::string dest = JoinPath(tmp, "share/ferry/python/ferry/" + n);
      FERRY_RETURN_IF_ERROR(MakeDirs(DirName(dest)));
      FERRY_RETURN_IF_ERROR(WriteFileAtomic(dest, text));
    }
    FERRY_RETURN_IF_ERROR(RemoveAll(stage));
    if (::rename(tmp.c_str(), stage.c_str()) != 0) return ErrnoStatus("rename", tmp, errno);
  }
  SpawnOptions so;
  so.argv = {"tar", "-C", stage, "-cf", "-", "bin", "share"};
  FERRY_ASSIGN_OR_RETURN(ProcessResult t, RunProcess(so, "", 120000));
  if (t.exit_code != 0) return Status::IoError("cannot pack the agent bundle: " + t.err);
  b.tar = std::move(t.out);
  cache[key] = b;
  return b;
}

}  // namespace ferry::compute
