-- The edge's words to a REST caller where Envoy's own would mislead a client (gateway.edge._rest_replies_filter).
-- Runs on REST calls only: it is enabled on the routes a REST URL meets before the transcoder maps it, never on a
-- gRPC method's. LIMIT_BYTES and TOO_LARGE are prepended by the renderer.
--
-- - A message over the services' limit: the backend's gRPC library refuses it RESOURCE_EXHAUSTED, which the
--   transcoder answers 429, and REST clients' retry policies resend a 429 (after Retry-After, or at once). It is
--   413, saying the limit and what to do.

local function json_string(text)
  local escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }
  local escaped = text:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format('\\u%04x', c:byte())
  end)
  return '"' .. escaped .. '"'
end

local function status_body(code, message, reason)
  local details = "[]"
  if reason ~= nil then
    details = '[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":' .. json_string(reason)
        .. ',"domain":"edge.govshare","metadata":{"limit_bytes":"' .. LIMIT_BYTES .. '"}}]'
  end
  return '{"code":' .. code .. ',"message":' .. json_string(message) .. ',"details":' .. details .. '}'
end

local function replace_body(handle, status, body)
  local headers = handle:headers()
  headers:replace(":status", status)
  headers:replace("content-type", "application/json")
  headers:replace("content-length", tostring(#body))
  handle:body():setBytes(body)
end

-- (A headers object is stale once the body has been read: read them again after handle:body().)
function envoy_on_response(handle)
  local headers = handle:headers()
  local status = headers:get(":status")
  if status == "429" and headers:get("grpc-status") == "8" then
    local body = handle:body()
    local size = body and body:getBytes(0, body:length()):match("Received message larger than max %((%d+) vs%.")
    if size ~= nil then
      replace_body(handle, "413", status_body(8, TOO_LARGE:gsub("{size}", size), "MESSAGE_TOO_LARGE"))
    end
  end
end
