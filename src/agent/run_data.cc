// A run's data on its node (run_data.h).
#include "agent/run_data.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "common/fs.h"
#include "data/s3_client.h"
#include "model/manifest.h"

namespace ferry::agent {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kRegisterAgain =
    "; a version never changes: register the data again as a new version";

// "raw:2", or an unregistered version's id.
std::string VersionLabel(const model::DataInput& in) {
  return in.dataset_name.empty() ? in.dataset_id.substr(0, 12)
                                 : in.dataset_name + ":" + std::to_string(in.dataset_version);
}

// A private, writable copy of a directory tree (read-only files become writable).
Status CopyTree(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::remove_all(to, ec);
  fs::create_directories(to, ec);
  if (!ec) {
    fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing, ec);
  }
  if (!ec) {
    for (auto it = fs::recursive_directory_iterator(to, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file()) {
        fs::permissions(it->path(), fs::perms::owner_write, fs::perm_options::add, ec);
      }
    }
  }
  if (ec) return Status::Unavailable("copying '" + from + "' to '" + to + "': " + ec.message());
  return Status::Ok();
}

// Where the script is given an input: path_on_compute (relative: in the working copy), else
// the agent's choice.
std::string Placed(const model::DataInput& in, const RunDataDirs& dirs, const std::string& def) {
  if (in.path_on_compute.empty()) return def;
  if (in.path_on_compute[0] == '/') return in.path_on_compute;
  return JoinPath(dirs.work, in.path_on_compute);
}

// Files of a datastore the workspace does not own: each one checked against the size and
// modification time the version recorded, then linked (mount) or copied (download).
Status PrepareExternal(const model::DataInput& in, const std::string& manifest_text,
                       const std::string& dest, bool copy) {
  json m = json::parse(manifest_text, nullptr, /*allow_exceptions=*/false);
  if (!m.is_object() || !m.contains("files") || !m["files"].is_array()) {
    return Status::Corruption("input '" + in.name + "': its manifest is not a file list");
  }
  struct stat st {};
  if (::stat(in.external_root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::FailedPrecondition(
        "input '" + in.name + "': datastore '" + in.datastore + "' is at '" + in.external_root +
        "' on this target, which is not a directory here; register the datastore with the "
        "path this target sees it at (mounts)");
  }
  std::error_code ec;
  fs::remove_all(dest, ec);
  FERRY_RETURN_IF_ERROR(MakeDirs(dest));
  for (const auto& f : m["files"]) {
    const std::string rel = f.value("path", ""), source = f.value("source", "");
    FERRY_RETURN_IF_ERROR(model::ValidateRelativePath(rel).WithContext("input '" + in.name + "'"));
    FERRY_RETURN_IF_ERROR(
        model::ValidateRelativePath(source).WithContext("input '" + in.name + "'"));
    const std::string from = JoinPath(in.external_root, source);
    const int64_t size = f.value("size", int64_t{-1});
    const double mtime = f.value("modified_at", 0.0);
    if (::lstat(from.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      return Status::FailedPrecondition("input '" + in.name + "': '" + source + "' of datastore '" +
                                        in.datastore + "' is gone (looked for '" + from + "')" +
                                        kRegisterAgain);
    }
    const double now_mtime = static_cast<double>(st.st_mtim.tv_sec) + st.st_mtim.tv_nsec * 1e-9;
    if (st.st_size != size || std::abs(now_mtime - mtime) > 1e-6) {
      return Status::FailedPrecondition(
          "input '" + in.name + "': '" + source + "' of datastore '" + in.datastore +
          "' changed since dataset version " + VersionLabel(in) + " was made (size " +
          std::to_string(size) + ", now " + std::to_string(st.st_size) + ")" + kRegisterAgain);
    }
    const std::string to = JoinPath(dest, rel);
    FERRY_RETURN_IF_ERROR(MakeDirs(to.substr(0, to.rfind('/'))));
    if (copy) {
      fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
      if (ec)
        return Status::Unavailable("input '" + in.name + "': copying '" + from +
                                   "': " + ec.message());
    } else if (::symlink(from.c_str(), to.c_str()) != 0) {
      return ErrnoStatus("symlink", to, errno).WithContext("input '" + in.name + "'");
    }
  }
  return Status::Ok();
}

// An S3 input's files as the node's read-only copy (<home>/datacache/<manifest>): fetched
// once through the plan's presigned URLs, each checked against the size and ETag the version
// recorded, then renamed into place whole.
Result<std::string> S3Tree(const model::DataInput& in, const json& urls, const RunDataDirs& dirs,
                           bool* hit) {
  const std::string final_dir = JoinPath(dirs.home, "datacache/" + in.manifest);
  auto made = MakeDirectoryOnce(final_dir, [&](const std::string& tmp) -> Status {
    if (!urls.is_array()) {
      return Status::FailedPrecondition("the server gave no URLs for its files");
    }
    for (const auto& f : urls) {
      const std::string rel = f.value("path", "");
      FERRY_RETURN_IF_ERROR(model::ValidateRelativePath(rel));
      const std::string to = JoinPath(tmp, rel);
      FERRY_RETURN_IF_ERROR(MakeDirs(to.substr(0, to.rfind('/'))));
      FERRY_ASSIGN_OR_RETURN(
          auto got, data::DownloadPresigned(f.value("url", ""), to, f.value("size", int64_t{-1}),
                                            /*read_only=*/true));
      const std::string etag = f.value("etag", "");
      if (!etag.empty() && !got.etag.empty() && got.etag != etag) {
        return Status::FailedPrecondition(
            "'" + rel + "' of datastore '" + in.datastore + "' changed since dataset version " +
            VersionLabel(in) + " was made (its ETag is now " + got.etag + ")" + kRegisterAgain);
      }
    }
    return Status::Ok();
  });
  if (!made.ok()) return made.status().WithContext("input '" + in.name + "'");
  *hit = !*made;
  return final_dir;
}

// A file dataset defined by one path that names a single file (no wildcard, not a folder) is
// given to the script as that file when mounted, as Azure ML did; anything else is its folder.
// Returns the file's path relative to the tree, or "" for a folder.
std::string SingleFileOf(const model::DataInput& in, const std::string& tree) {
  if (in.mode != "mount" || in.kind != "file") return "";
  json def = json::parse(in.definition_json, nullptr, /*allow_exceptions=*/false);
  const json* paths = def.is_object() && def.contains("paths") ? &def["paths"] : nullptr;
  if (paths == nullptr || !paths->is_array() || paths->size() != 1) return "";
  const json& p = (*paths)[0];
  std::string pattern = p.is_string()   ? p.get<std::string>()
                        : p.is_object() ? p.value("path", std::string())
                                        : std::string();
  if (pattern.empty() || pattern.back() == '/' ||
      pattern.find_first_of("*?[") != std::string::npos) {
    return "";
  }
  std::error_code ec;
  std::string only;
  for (fs::recursive_directory_iterator it(tree, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    if (!only.empty()) return "";  // a folder of several files
    only = fs::relative(it->path(), tree, ec).string();
  }
  const std::string name = pattern.substr(pattern.rfind('/') + 1);
  return !ec && !only.empty() && only.substr(only.rfind('/') + 1) == name ? only : "";
}

}  // namespace

Result<RunData> PrepareRunData(const model::RunOptions& options, Snapshot& snapshot,
                               const RunDataDirs& dirs, const json& input_urls) {
  RunData out;
  json inputs = json::object();
  json models = json::object();  // FERRY_MODELS: {model name: {version: path}}
  for (const auto& in : options.inputs) {
    const bool copy = in.mode == "download";
    const std::string own = JoinPath(dirs.agent_dir, "inputs/" + in.name);
    std::string path;
    const auto t0 = std::chrono::steady_clock::now();
    auto took = [&t0] {
      char ms[32];
      std::snprintf(
          ms, sizeof ms, "%.1f ms",
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      return std::string(ms);
    };
    if (in.external_root.empty()) {
      bool hit = false;
      std::string tree;
      if (in.store_kind == "s3") {
        FERRY_ASSIGN_OR_RETURN(tree, S3Tree(in, input_urls.value(in.name, json()), dirs, &hit));
      } else {
        FERRY_ASSIGN_OR_RETURN(tree, snapshot.DataTree(in.manifest, &hit));
      }
      out.notes.push_back("input '" + in.name + "': " +
                          (hit ? "the node's copy of its files (nothing fetched, "
                               : "its files fetched into the node's copy (") +
                          took() + ")");
      if (copy) {
        path = Placed(in, dirs, own);
        FERRY_RETURN_IF_ERROR(CopyTree(tree, path).WithContext("input '" + in.name + "'"));
        out.rw_mounts.push_back(path);
      } else if (!in.path_on_compute.empty()) {
        path = Placed(in, dirs, own);
        (void)MakeDirs(path.substr(0, path.rfind('/')));
        ::unlink(path.c_str());
        if (::symlink(tree.c_str(), path.c_str()) != 0) {
          return ErrnoStatus("symlink", path, errno).WithContext("input '" + in.name + "'");
        }
        out.ro_mounts.push_back(tree);
      } else {
        path = tree;
        out.ro_mounts.push_back(tree);
      }
    } else {
      FERRY_ASSIGN_OR_RETURN(std::string text, snapshot.Blob(in.manifest));
      path = Placed(in, dirs, own);
      FERRY_RETURN_IF_ERROR(PrepareExternal(in, text, path, copy));
      (copy ? out.rw_mounts : out.ro_mounts).push_back(path);
      if (!copy) out.ro_mounts.push_back(in.external_root);
      out.notes.push_back("input '" + in.name + "': datastore '" + in.datastore + "' checked and " +
                          (copy ? "copied" : "linked") + " (" + took() + ")");
    }
    if (in.external_root.empty() && in.asset != "model") {
      const std::string file = SingleFileOf(in, path);
      if (!file.empty()) {
        path = JoinPath(path, file);
        out.notes.push_back("input '" + in.name + "': a single file, given as " + path);
      }
    }
    out.paths[in.name] = path;
    if (in.asset == "model") models[in.dataset_name][std::to_string(in.dataset_version)] = path;
    out.env["FERRY_INPUT_" + in.name] = path;
    out.env["AZUREML_DATAREFERENCE_" + in.name] = path;
    json def = json::parse(in.definition_json, nullptr, /*allow_exceptions=*/false);
    inputs[in.name] = {
        {"path", path},
        {"mode", in.mode},
        {"kind", in.kind},
        {"definition", def.is_object() ? def : json::object()},
        {"dataset",
         {{"name", in.dataset_name}, {"version", in.dataset_version}, {"id", in.dataset_id}}}};
  }
  json outputs = json::object();
  for (const auto& o : options.outputs) {
    const std::string rel = "outputs/datasets/" + o.name;
    FERRY_RETURN_IF_ERROR(MakeDirs(JoinPath(dirs.work, rel)));
    const std::string path = JoinPath(dirs.work_shown, rel);
    out.paths[o.name] = path;
    out.env["FERRY_OUTPUT_" + o.name] = path;
    outputs[o.name] = path;
  }
  if (!options.inputs.empty()) out.env["FERRY_INPUTS"] = inputs.dump();
  if (!models.empty()) out.env["FERRY_MODELS"] = models.dump();
  if (!options.outputs.empty()) out.env["FERRY_OUTPUTS"] = outputs.dump();
  return out;
}

std::vector<std::string> SubstituteDataArguments(const std::vector<std::string>& args,
                                                 const RunData& data) {
  std::vector<std::string> out;
  out.reserve(args.size());
  for (std::string a : args) {
    for (const char* kind :
         {"DatasetConsumptionConfig:", "OutputFileDatasetConfig:", "ModelConsumptionConfig:"}) {
      const size_t at = a.find(kind);
      if (at == std::string::npos) continue;
      const size_t start = at + std::string(kind).size();
      size_t end = start;
      while (end < a.size() &&
             (std::isalnum(static_cast<unsigned char>(a[end])) || a[end] == '_')) {
        ++end;
      }
      auto it = data.paths.find(a.substr(start, end - start));
      if (it != data.paths.end()) a.replace(at, end - at, it->second);
    }
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace ferry::agent
