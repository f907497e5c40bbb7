// `ferry datastore register|list|show|upload|download|delete`: where data lives (docs/data.md).
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/context.h"
#include "cli/term.h"
#include "cli/upload.h"
#include "common/fs.h"
#include "net/http.h"

namespace ferry::cli {

using nlohmann::json;

namespace {

void PrintDatastore(const json& d) {
  std::printf("Name:     %s%s\nKind:     %s\n", d["name"].get<std::string>().c_str(),
              d.value("default", false) ? " (default)" : "", d["kind"].get<std::string>().c_str());
  if (d.contains("path")) std::printf("Path:     %s\n", d["path"].get<std::string>().c_str());
  if (d.contains("bucket")) {
    std::printf("Endpoint: %s\nBucket:   %s\nRegion:   %s\n",
                d["endpoint"].get<std::string>().c_str(), d["bucket"].get<std::string>().c_str(),
                d["region"].get<std::string>().c_str());
    if (!d.value("prefix", std::string()).empty())
      std::printf("Prefix:   %s\n", d["prefix"].get<std::string>().c_str());
  }
  if (d.contains("mounts")) {
    for (const auto& [target, at] : d["mounts"].items())
      std::printf("Mount:    %s at %s\n", target.c_str(), at.get<std::string>().c_str());
  }
  if (d.value("created_at", 0.0) > 0)
    std::printf("Created:  %s\n", FormatTime(d["created_at"].get<double>()).c_str());
}

}  // namespace

void RegisterDatastore(CLI::App& app, Context& ctx, int* exit_code) {
  auto* ds = app.add_subcommand("datastore",
                                "Where data lives: the workspace's own store and "
                                "directories shared with targets");
  ds->require_subcommand(1);

  auto* reg = ds->add_subcommand(
      "register", "Register a directory that targets share, or an S3 bucket (--kind s3)");
  struct RegArgs {
    std::string name, kind = "directory", path, endpoint, bucket, region = "us-east-1", prefix,
                      access_key, ca_file;
    std::vector<std::string> mounts;
    bool virtual_hosted = false;
  };
  auto ra = std::make_shared<RegArgs>();
  reg->add_option("-n,--name,name", ra->name, "Datastore name (letters, digits, '_')")->required();
  reg->add_option("--kind", ra->kind, "directory (default) or s3")
      ->check(CLI::IsMember({"directory", "s3"}));
  reg->add_option("--path", ra->path, "directory: the directory, as the server's machine sees it");
  reg->add_option("--mount", ra->mounts,
                  "directory: TARGET=PATH, where a target sees the directory when not at --path "
                  "(repeatable)");
  reg->add_option("--endpoint", ra->endpoint, "s3: the store's URL (https://host[:port])");
  reg->add_option("--bucket", ra->bucket, "s3: the bucket");
  reg->add_option("--region", ra->region, "s3: the region (default us-east-1)");
  reg->add_option("--prefix", ra->prefix, "s3: keys under this prefix only");
  reg->add_option("--access-key", ra->access_key, "s3: the access key id");
  reg->add_option("--ca-file", ra->ca_file, "s3: PEM certificates to trust (a private CA)");
  reg->add_flag("--virtual-hosted", ra->virtual_hosted,
                "s3: bucket.host addressing (AWS) instead of host/bucket");
  reg->callback([&ctx, ra, exit_code] {
    json body = {{"name", ra->name}, {"kind", ra->kind}};
    if (ra->kind == "s3") {
      // The secret never goes on a command line (ps shows it): from the environment or stdin.
      const char* env = std::getenv("FERRY_S3_SECRET_KEY");
      std::string secret = env ? env : "";
      if (secret.empty()) {
        std::getline(std::cin, secret);
      }
      if (secret.empty() || ra->endpoint.empty() || ra->bucket.empty() || ra->access_key.empty()) {
        *exit_code = ReportError(Status::InvalidArgument(
            "an s3 datastore needs --endpoint, --bucket, --access-key and the secret key (in "
            "FERRY_S3_SECRET_KEY or on standard input)"));
        return;
      }
      body.update({{"endpoint", ra->endpoint},
                   {"bucket", ra->bucket},
                   {"region", ra->region},
                   {"prefix", ra->prefix},
                   {"access_key", ra->access_key},
                   {"secret_key", secret},
                   {"ca_file", ra->ca_file.empty() ? "" : AbsolutePath(ra->ca_file)},
                   {"path_style", !ra->virtual_hosted}});
    } else {
      auto m = ParseKeyValues("--mount", "TARGET=PATH (the directory as that target sees it)",
                              ra->mounts, /*empty_value_ok=*/false);
      if (!m.ok() || ra->path.empty()) {
        *exit_code =
            ReportError(m.ok() ? Status::InvalidArgument("a directory datastore needs --path DIR")
                               : m.status());
        return;
      }
      body.update({{"path", AbsolutePath(ra->path)}, {"mounts", json(*m)}});
    }
    auto r = ctx.Call("POST", "/api/v1/datastores", body.dump());
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    if (ra->kind == "s3") {
      std::printf("registered datastore %s (s3 bucket %s at %s)\n", ra->name.c_str(),
                  ra->bucket.c_str(), ra->endpoint.c_str());
    } else {
      std::printf("registered datastore %s (directory %s)\n", ra->name.c_str(),
                  (*r)["path"].get<std::string>().c_str());
    }
  });

  auto* list = ds->add_subcommand("list", "List datastores");
  list->callback([&ctx, exit_code] {
    auto r = ctx.Call("GET", "/api/v1/datastores");
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("%-32s %-10s %s\n", "NAME", "KIND", "WHERE");
    for (const auto& d : (*r)["datastores"]) {
      std::string where = d.value("kind", "") == "blob" ? "the workspace's blob store"
                          : d.contains("bucket")        ? d["endpoint"].get<std::string>() + "/" +
                                                       d["bucket"].get<std::string>()
                                                 : d.value("path", std::string());
      if (d.value("default", false)) where += " (default)";
      std::printf("%-32s %-10s %s\n", d["name"].get<std::string>().c_str(),
                  d["kind"].get<std::string>().c_str(), where.c_str());
    }
  });

  auto* show = ds->add_subcommand("show", "Show a datastore (--files: the files in it)");
  auto show_name = std::make_shared<std::string>();
  auto show_files = std::make_shared<bool>(false);
  auto show_prefix = std::make_shared<std::string>();
  show->add_option("-n,--name,name", *show_name, "Datastore name")->required();
  show->add_flag("--files", *show_files, "List its files");
  show->add_option("--prefix", *show_prefix, "Only files whose path starts with this");
  show->callback([&ctx, show_name, show_files, show_prefix, exit_code] {
    if (!*show_files && show_prefix->empty()) {
      auto r = ctx.Call("GET", "/api/v1/datastores/" + net::UrlEncode(*show_name));
      if (!r.ok()) {
        *exit_code = ReportError(r.status());
        return;
      }
      if (ctx.json_output()) return PrintJson(*r);
      return PrintDatastore(*r);
    }
    auto r = ctx.Call("GET", "/api/v1/datastores/" + net::UrlEncode(*show_name) +
                                 "/files?prefix=" + net::UrlEncode(*show_prefix));
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("%-10s %-20s %s\n", "SIZE", "MODIFIED", "PATH");
    for (const auto& f : (*r)["files"]) {
      std::printf("%-10s %-20s %s\n", FormatBytes(f["size"].get<uint64_t>()).c_str(),
                  FormatTime(f["modified_at"].get<double>()).c_str(),
                  f["path"].get<std::string>().c_str());
    }
  });

  auto* up = ds->add_subcommand("upload", "Upload a directory's files to a path of a datastore");
  struct UpArgs {
    std::string name, src, target;
    bool overwrite = false;
  };
  auto ua = std::make_shared<UpArgs>();
  up->add_option("-n,--name,name", ua->name, "Datastore name")->required();
  up->add_option("-p,--src-path", ua->src, "The local directory")->required();
  up->add_option("-t,--target-path", ua->target,
                 "Where its files go in the datastore (default: its root)");
  up->add_flag("--overwrite", ua->overwrite, "Replace files that are there with other content");
  up->callback([&ctx, ua, exit_code] {
    UploadOptions o;
    o.dir = AbsolutePath(ua->src);
    o.use_ignore_files = false;  // data: every file
    o.check = [&ua](const snapshot::SnapshotResult& snap) -> Status {
      if (snap.manifest.entries.empty())
        return Status::InvalidArgument("'" + ua->src + "' holds no files to upload");
      return Status::Ok();
    };
    auto stored = UploadTree(ctx, o);
    if (!stored.ok()) {
      *exit_code = ReportError(stored.status());
      return;
    }
    json body = {
        {"snapshot", stored->snap.id}, {"target_path", ua->target}, {"overwrite", ua->overwrite}};
    auto r =
        ctx.Call("POST", "/api/v1/datastores/" + net::UrlEncode(ua->name) + "/files", body.dump());
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("uploaded %lld files (%s) to %s:/%s\n",
                static_cast<long long>((*r)["files"].get<int64_t>()),
                FormatBytes((*r)["bytes"].get<uint64_t>()).c_str(), ua->name.c_str(),
                (*r)["target_path"].get<std::string>().c_str());
  });

  auto* down = ds->add_subcommand("download", "Download a datastore's files (under a prefix)");
  struct DownArgs {
    std::string name, target, prefix;
    bool overwrite = false;
  };
  auto da = std::make_shared<DownArgs>();
  down->add_option("-n,--name,name", da->name, "Datastore name")->required();
  down->add_option("-t,--target-path", da->target, "The local directory to write to")->required();
  down->add_option("--prefix", da->prefix, "Only files whose path starts with this");
  down->add_flag("--overwrite", da->overwrite, "Replace local files that exist");
  down->callback([&ctx, da, exit_code] {
    auto r = ctx.Call("GET", "/api/v1/datastores/" + net::UrlEncode(da->name) +
                                 "/files?prefix=" + net::UrlEncode(da->prefix));
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    std::vector<RemoteFile> files;
    for (const auto& f : (*r)["files"]) {
      RemoteFile rf;
      rf.path = rf.source = f["path"].get<std::string>();
      rf.size = f["size"].get<int64_t>();
      rf.blob = f.value("blob", std::string());
      rf.datastore = da->name;
      files.push_back(std::move(rf));
    }
    if (files.empty()) {
      *exit_code = ReportError(
          Status::NotFound("datastore '" + da->name + "' has no files under '" + da->prefix + "'"));
      return;
    }
    auto bytes = DownloadFiles(ctx, files, AbsolutePath(da->target), da->overwrite);
    if (!bytes.ok()) {
      *exit_code = ReportError(bytes.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(json{{"files", files.size()}, {"bytes", *bytes}});
    std::printf("downloaded %zu files (%s) to %s\n", files.size(),
                FormatBytes(static_cast<uint64_t>(*bytes)).c_str(), da->target.c_str());
  });

  auto* del =
      ds->add_subcommand("delete", "Unregister a datastore (its files stay where they are)");
  auto del_name = std::make_shared<std::string>();
  del->add_option("-n,--name,name", *del_name, "Datastore name")->required();
  del->callback([&ctx, del_name, exit_code] {
    auto r = ctx.Call("DELETE", "/api/v1/datastores/" + net::UrlEncode(*del_name));
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("deleted datastore %s\n", del_name->c_str());
  });

  auto* def = ds->add_subcommand(
      "set-default",
      "Make a datastore the workspace's default (admins): where run outputs and dataset paths "
      "that name none go");
  auto def_name = std::make_shared<std::string>();
  def->add_option("-n,--name,name", *def_name, "Datastore name")->required();
  def->callback([&ctx, def_name, exit_code] {
    auto r = ctx.Call("PUT", "/api/v1/datastores/" + net::UrlEncode(*def_name) + "/default");
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("the workspace's default datastore is now %s\n", def_name->c_str());
  });
}

}  // namespace ferry::cli
