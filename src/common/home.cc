// Workspace home helpers.
#include "common/home.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/crypto.h"
#include "common/fs.h"

namespace ferry {

std::string DefaultHome() {
  const char* h = std::getenv("FERRY_HOME");
  if (h && *h) return AbsolutePath(h);
  const char* home = std::getenv("HOME");
  return AbsolutePath(JoinPath(home && *home ? home : "/tmp", ".ferry"));
}

std::string HomePath(const std::string& home, const std::string& name) {
  return JoinPath(home, name);
}

Result<ServerInfo> ReadServerInfo(const std::string& home) {
  std::string path = HomePath(home, "server.json");
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("url")) return Status::Corruption("malformed " + path);
  ServerInfo info;
  info.url = j.value("url", "");
  info.pid = j.value("pid", 0);
  info.port = j.value("port", 0);
  return info;
}

Result<std::string> ReadSecretFile(const std::string& path) {
  FERRY_ASSIGN_OR_RETURN(std::string s, ReadFile(path));
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  if (s.empty())
    return Status::Corruption("'" + path + "' is empty; delete it and restart the server");
  return s;
}

Result<std::string> EnsureSecretFile(const std::string& path) {
  auto existing = ReadSecretFile(path);
  if (existing.ok() || existing.status().code() != StatusCode::kNotFound) return existing;
  std::string value = RandomHex(32);
  std::string tmp = path + ".new." + std::to_string(::getpid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoStatus("cannot create", tmp, errno);
  FERRY_RETURN_IF_ERROR(WriteAll(fd.get(), value + "\n", tmp));
  ::fsync(fd.get());
  fd.Reset();
  // link() fails if another process created the file first; then use theirs.
  if (::link(tmp.c_str(), path.c_str()) != 0 && errno != EEXIST) {
    int e = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus("cannot create", path, e);
  }
  ::unlink(tmp.c_str());
  return ReadSecretFile(path);
}

std::string FindPythonPackageDir() {
  if (const char* p = std::getenv("FERRY_PYTHON_PACKAGE_DIR"); p && *p) return p;
  std::string exe = ExecutableDir();
  for (const char* rel : {"/../share/ferry/python", "/../../python", "/../python"}) {
    std::string cand = AbsolutePath(exe + rel);
    if (PathExists(cand + "/ferry/__init__.py")) return cand;
  }
  return "";
}

}  // namespace ferry
