package handlers

import _ "embed"

// openapiJSON is the OpenAPI 3 document of the HTTP API, served at /api/openapi.json.
//
//go:embed openapi.json
var openapiJSON []byte
