// Conda environment file parsing and conda's version matching (the subset Python specs use).
#include "runconfig/conda_env.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <sstream>
#include <utility>

namespace ferry::runconfig {
namespace {

Status Error(const std::string& name, const YAML::Node& node, const std::string& field,
             const std::string& what) {
  YAML::Mark m = node.Mark();
  std::string where = name;
  if (m.line >= 0) where += ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
  return Status::InvalidArgument(where + ": field '" + field + "': " + what);
}

// "numpy=1.26=py311h0" -> "numpy"; "python>=3.10" -> "python"; "conda-forge::numpy" -> "numpy".
std::string PackageName(const std::string& spec, std::string* rest) {
  std::string s = spec;
  if (auto c = s.find("::"); c != std::string::npos) s = s.substr(c + 2);
  size_t i = 0;
  while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '-' ||
                          s[i] == '_' || s[i] == '.'))
    ++i;
  std::string name = s.substr(0, i);
  std::string r = s.substr(i);
  size_t a = r.find_first_not_of(' ');
  r = a == std::string::npos ? "" : r.substr(a);
  if (rest) *rest = r;
  for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return name;
}

std::vector<int> Parts(const std::string& v) {
  std::vector<int> out;
  std::stringstream ss(v);
  std::string p;
  while (std::getline(ss, p, '.')) {
    if (p.empty() || p == "*") break;
    int n = 0;
    size_t i = 0;
    while (i < p.size() && std::isdigit(static_cast<unsigned char>(p[i])))
      n = n * 10 + (p[i++] - '0');
    if (i == 0) break;
    out.push_back(n);
  }
  return out;
}

int Compare(const std::vector<int>& a, const std::vector<int>& b) {
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    int x = i < a.size() ? a[i] : 0, y = i < b.size() ? b[i] : 0;
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

bool OneConstraint(const std::string& c, const std::vector<int>& have) {
  std::string op;
  size_t i = 0;
  while (i < c.size() && std::string("<>=!~").find(c[i]) != std::string::npos) op += c[i++];
  std::string v = c.substr(i);
  std::vector<int> want = Parts(v);
  if (want.empty()) return true;
  if (op.empty() || op == "=" || op == "==") {
    // Prefix match: "3.11" matches 3.11.7 (conda's "=" is a fuzzy match, "==" exact; for a
    // major.minor spec both mean the series).
    if (have.size() < want.size()) return false;
    for (size_t k = 0; k < want.size(); ++k) {
      if (have[k] != want[k]) return false;
    }
    return true;
  }
  int cmp = Compare(have, want);
  if (op == ">=") return cmp >= 0;
  if (op == ">") return cmp > 0;
  if (op == "<=") return cmp <= 0;
  if (op == "<") return cmp < 0;
  if (op == "!=") return cmp != 0;
  if (op == "~=") return cmp >= 0 && have.size() >= 1 && want.size() >= 1 && have[0] == want[0];
  return false;
}

}  // namespace

const std::vector<std::string>& CondaOnlyPackages() {
  static const std::vector<std::string> names = {"cudatoolkit",
                                                 "cudatoolkit-dev",
                                                 "cudnn",
                                                 "nccl",
                                                 "cuda-toolkit",
                                                 "pytorch-cuda",
                                                 "cpuonly",
                                                 "libgcc-ng",
                                                 "libstdcxx-ng",
                                                 "_libgcc_mutex",
                                                 "_openmp_mutex",
                                                 "libgomp",
                                                 "gcc",
                                                 "gxx",
                                                 "gcc_linux-64",
                                                 "gxx_linux-64",
                                                 "openmpi",
                                                 "mpich",
                                                 "blas",
                                                 "libblas",
                                                 "liblapack",
                                                 "openblas",
                                                 "libopenblas",
                                                 "r-base",
                                                 "ffmpeg",
                                                 "openssl",
                                                 "zlib",
                                                 "xz",
                                                 "ncurses",
                                                 "readline",
                                                 "sqlite",
                                                 "tk",
                                                 "libffi",
                                                 "ld_impl_linux-64",
                                                 "ca-certificates"};
  return names;
}

Result<std::string> CondaPackageAsPip(const std::string& spec) {
  std::string rest;
  std::string name = PackageName(spec, &rest);
  if (name.empty()) return Status::InvalidArgument("'" + spec + "' is not a package spec");
  for (const auto& n : CondaOnlyPackages()) {
    if (name == n) return Status::NotFound(name + " is a conda-only package");
  }
  if (name.rfind("r-", 0) == 0 || name.rfind("magma-cuda", 0) == 0)
    return Status::NotFound(name + " is a conda-only package");
  static const std::pair<const char*, const char*> kRenamed[] = {
      {"pytorch", "torch"}, {"py-xgboost", "xgboost"}, {"py-opencv", "opencv-python"}};
  for (auto [conda, pip] : kRenamed) {
    if (name == conda) name = pip;
  }
  // The version: "=1.26" (conda's fuzzy match), "==1.26.4", ">=1.2,<2", "1.26.*" (after a
  // space); a build string after a further '=' or space is dropped.
  std::string v = rest;
  std::string op;
  if (v.rfind("==", 0) == 0) {
    op = "==";
    v = v.substr(2);
  } else if (!v.empty() && v[0] == '=') {
    op = "=";
    v = v.substr(1);
  } else if (!v.empty() && std::isdigit(static_cast<unsigned char>(v[0]))) {
    op = "==";
  }
  if (op.empty()) {  // ">=1.2,<2", "!=1.3" or nothing: pip's syntax already
    std::string out;
    for (char c : v) {
      if (c != ' ') out += c;
    }
    return name + out;
  }
  size_t end = v.find_first_of("= ");
  if (end != std::string::npos) v = v.substr(0, end);
  if (v.empty()) return name;
  if (op == "=" && v.back() != '*') v += ".*";
  return name + "==" + v;
}

bool IsSdkRequirement(const std::string& requirement) {
  std::string name = PackageName(requirement, nullptr);
  for (auto& c : name) c = c == '_' ? '-' : c;
  return name.rfind("azureml-", 0) == 0 || name == "ferry-ml" || name == "ferry-defaults" ||
         name == "ferry-core" || name == "ferry-sdk";
}

bool PythonVersionMatches(const std::string& spec, const std::string& version) {
  std::vector<int> have = Parts(version);
  std::string s;
  for (char c : spec) {
    if (c != ' ') s += c;
  }
  if (s.empty()) return true;
  // "|" separates alternatives, "," joins constraints.
  std::stringstream alts(s);
  std::string alt;
  while (std::getline(alts, alt, '|')) {
    std::stringstream cons(alt);
    std::string c;
    bool all = true;
    while (std::getline(cons, c, ',')) all = all && OneConstraint(c, have);
    if (all) return true;
  }
  return false;
}

Result<CondaEnvironment> ParseCondaEnvironment(std::string_view yaml, const std::string& name) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    std::string where = name;
    if (e.mark.line >= 0)
      where += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    return Status::InvalidArgument(where + ": not valid YAML: " + e.msg);
  }
  if (!root || root.IsNull())
    return Status::InvalidArgument(name + ": the conda environment file is empty");
  if (!root.IsMap())
    return Error(name, root, "(top level)", "expected a mapping with 'dependencies'");
  CondaEnvironment env;
  try {
    for (auto kv : root) {
      std::string key = kv.first.Scalar();
      const YAML::Node& v = kv.second;
      if (key == "name") {
        if (!v.IsNull() && !v.IsScalar()) return Error(name, v, "name", "expected a string");
        if (v.IsScalar()) env.name = v.Scalar();
      } else if (key == "channels") {
        if (v.IsNull()) continue;
        if (!v.IsSequence()) return Error(name, v, "channels", "expected a list of channel names");
        for (auto c : v) {
          if (!c.IsScalar()) return Error(name, c, "channels", "expected a channel name");
          env.channels.push_back(c.Scalar());
        }
      } else if (key == "dependencies") {
        if (v.IsNull()) continue;
        if (!v.IsSequence()) return Error(name, v, "dependencies", "expected a list");
        for (auto d : v) {
          if (d.IsMap()) {
            for (auto sub : d) {
              if (sub.first.Scalar() != "pip") {
                return Error(name, sub.first, "dependencies",
                             "unknown section '" + sub.first.Scalar() + "'; allowed: pip");
              }
              if (sub.second.IsNull()) continue;
              if (!sub.second.IsSequence())
                return Error(name, sub.second, "dependencies.pip",
                             "expected a list of requirements");
              for (auto p : sub.second) {
                if (!p.IsScalar())
                  return Error(name, p, "dependencies.pip", "expected a requirement string");
                env.pip.push_back(p.Scalar());
              }
            }
            continue;
          }
          if (!d.IsScalar())
            return Error(name, d, "dependencies", "expected a package spec or a pip: section");
          std::string rest;
          std::string pkg = PackageName(d.Scalar(), &rest);
          if (pkg.empty())
            return Error(name, d, "dependencies", "'" + d.Scalar() + "' is not a package spec");
          if (pkg == "python") {
            // conda's "python=3.11=h123_0": the build string after a second '=' is not a version.
            std::string spec = rest;
            if (spec.rfind("==", 0) != 0 && spec.rfind('=', 0) == 0) {
              auto second = spec.find('=', 1);
              if (second != std::string::npos) spec = spec.substr(0, second);
            }
            env.python = spec;
          } else if (pkg == "pip" || pkg == "setuptools" || pkg == "wheel") {
            // A virtual environment has these already.
          } else {
            env.conda_packages.push_back(d.Scalar());
          }
        }
      } else if (key == "prefix" || key == "variables") {
        // Where conda would put it / activation variables: not used.
      } else {
        return Error(name, kv.first, key,
                     "unknown field; allowed: name, channels, dependencies, prefix, variables");
      }
    }
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(name + ": " + e.msg);
  }
  return env;
}

}  // namespace ferry::runconfig
