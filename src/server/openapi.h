// docs/openapi.yaml, embedded in the binary at build time (scripts/embed_text.cmake), so an
// installed server serves the description of the API it implements: GET /api/v1/openapi.yaml.
#pragma once

#include <string_view>

#include "net/http.h"

namespace ferry::server {

// The file's bytes as they were when the binary was built.
std::string_view OpenApiYaml();
// 200, application/yaml, the document (public: it describes the API, it holds no data).
net::HttpResponse OpenApiResponse();

}  // namespace ferry::server
