// Studio: the web UI's files (served at "/") and the live event streams it reads
// (server-sent events; see docs/studio.md and docs/openapi.yaml).
#pragma once

#include <cstdint>
#include <string>

#include "net/http_server.h"

namespace ferry::server {

struct ApiDeps;

// Every change of any run is also announced on this channel (the workspace stream).
inline constexpr const char* kRunsChannel = "runs";

// The built web UI: index.html and assets/ in one directory.
class StudioFiles {
 public:
  // dir: where index.html is; "" when the UI is not installed ("/" then says how to build it).
  explicit StudioFiles(std::string dir) : dir_(std::move(dir)) {}
  // FERRY_WEB_DIR, else <exe>/../share/ferry/web, else <exe>/../web (the build tree); "".
  static std::string FindDir();
  const std::string& dir() const { return dir_; }
  // GET/HEAD of a path outside /api: index.html for "/" and the paths of Studio's router's
  // pages (web/src/lib/router.ts), a file of the directory, else 404 (JSON when the client
  // accepts JSON). Never leaves dir (no "..", no symlinks out).
  net::HttpResponse Serve(const net::HttpRequest& req) const;

 private:
  std::string dir_;
};

// GET /api/v1/stream: `changed` whenever any run changed (at most twice a second).
net::EventStream WorkspaceEventStream(const ApiDeps& d);
// GET /api/v1/runs/{id}/stream: the run, its history, metric series (downsampled to
// max_points, then appended), and every rank's log, live, until the run has ended and all
// of it was sent.
net::EventStream RunEventStream(const ApiDeps& d, const std::string& run_id, int64_t max_points);

// Signed, expiring download links for a run's artifacts (an <a href> sends no header).
inline constexpr int64_t kArtifactLinkSeconds = 300;
std::string ArtifactLinkQuery(const std::string& secret, const std::string& run_id,
                              const std::string& path, int64_t now);
bool ArtifactLinkValid(const std::string& secret, const std::string& run_id,
                       const std::string& path, const std::string& expires, const std::string& sig,
                       int64_t now);

}  // namespace ferry::server
