#!/usr/bin/env bash
# docs/openapi.yaml must be a valid OpenAPI document (openapi-spec-validator, pinned in
# requirements-dev.txt; .venv from scripts/setup.sh). Run by `make test` (make lint), so an invalid
# file fails before the long runs; tests/integration/test_api_fuzz.py fuzzes the server with it.
# Usage: scripts/check_openapi.sh [FILE]   (default docs/openapi.yaml)
set -euo pipefail
cd "$(dirname "$0")/.."
spec=${1:-docs/openapi.yaml}
PY=${PY:-.venv/bin/python}
"$PY" - "$spec" <<'PYEOF'
import sys
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

path = sys.argv[1]
spec, _ = read_from_filename(path)
try:
    validate(spec)
except Exception as e:  # a jsonschema ValidationError: message, and where in the document
    where = "/".join(str(p) for p in getattr(e, "absolute_path", [])) or "(top level)"
    print(f"check_openapi: {path} is not a valid OpenAPI document at {where}: {str(getattr(e, 'message', e)).splitlines()[0][:500]}",
          file=sys.stderr)
    sys.exit(1)
print(f"check_openapi: {path} is valid OpenAPI {spec.get('openapi', '?')}")
PYEOF
