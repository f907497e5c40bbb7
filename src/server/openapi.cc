// GET /api/v1/openapi.yaml (the document itself is in the generated openapi_yaml.cc).
#include "server/openapi.h"

namespace ferry::server {

net::HttpResponse OpenApiResponse() {
  net::HttpResponse r;
  r.content_type = "application/yaml";
  r.body = std::string(OpenApiYaml());
  r.headers.push_back({"Cache-Control", "no-cache"});
  return r;
}

}  // namespace ferry::server
