// The workspace server process: opens the home, the stores and the targets, serves the API
// and runs the scheduler until SIGTERM/SIGINT or POST /api/v1/shutdown.
#pragma once

#include <string>

#include "common/log.h"
#include "common/status.h"

namespace ferry::server {

struct ServerOptions {
  std::string home;
  std::string bind_address = "127.0.0.1";
  int port = 0;                    // 0: pick a free port (printed and written to server.json)
  int local_max_concurrent = 0;    // 0: number of cores
  bool sync_every_commit = false;  // see store::SqliteStoreOptions
  // Where MLflow clients' experiments keep artifacts when they name no location (a local
  // path or a URI; "" : Ferry's store, through mlflow-artifacts:/).
  std::string default_artifact_root;
  int http_threads = 2;       // sockets only (net/http_server.h)
  int http_workers = 4;       // ordinary requests' handlers
  int http_bulk_workers = 2;  // searches, listings, downloads
  LogSettings log;            // level and format of every log line (common/log.h)
};

// Installs the log settings, then blocks until the server stops. Fails fast (with the reason) when
// the home is unusable or another server already serves it.
Status RunServer(const ServerOptions& options);

}  // namespace ferry::server
