-- Which backend answers a grpc.health.v1.Health call through the edge (gateway.edge._health_routes).
--
-- The service a health call asks about is in its request message, not in its path, so Envoy cannot route on it:
-- this reads the message's `service` (field 1, a string), and when a backend other than the edge's companion
-- hosts that service, names the backend in a header and has Envoy route the call again. That backend's own
-- health service then answers for it (SERVING, or NOT_SERVING while it starts or drains). An internal service's
-- name (INTERNAL) is NOT_FOUND here, in the words the companion has for a name it does not know: the companion
-- hosts some internal services (authorization's Check), and said SERVING of them, though the edge serves none of
-- their methods and reflection does not list them. Anything else (the empty name, the companion's public
-- services, an unknown name, a compressed message) stays with the companion. BACKENDS (service name -> backend),
-- INTERNAL (a set of names) and HEADER are prepended by the renderer.

local function varint(bytes, i)
  local value, scale = 0, 1
  while true do
    local b = bytes:byte(i)
    if b == nil or scale > 2 ^ 28 then
      return nil, i
    end
    value = value + (b % 128) * scale
    i = i + 1
    if b < 128 then
      return value, i
    end
    scale = scale * 128
  end
end

-- The last `service` of an uncompressed gRPC frame holding a HealthCheckRequest, or nil.
local function service_name(bytes)
  if #bytes < 5 or bytes:byte(1) ~= 0 then
    return nil
  end
  local i, last = 6, nil
  while i <= #bytes do
    local key, length
    key, i = varint(bytes, i)
    if key ~= 10 then
      return nil -- a field HealthCheckRequest does not have: let the companion answer
    end
    length, i = varint(bytes, i)
    if length == nil or i + length - 1 > #bytes then
      return nil
    end
    last = bytes:sub(i, i + length - 1)
    i = i + length
  end
  return last
end

function envoy_on_request(handle)
  local body = handle:body()
  if body == nil then
    return
  end
  local service = service_name(body:getBytes(0, body:length())) or ""
  if INTERNAL[service] then
    handle:respond({ [":status"] = "200", ["content-type"] = "application/grpc", ["grpc-status"] = "5",
        ["grpc-message"] = "no service named '" .. service .. "' here: ask about '' (the whole server) or a service "
            .. "that server reflection lists" }, "")
    return
  end
  local backend = BACKENDS[service]
  if backend ~= nil then
    handle:headers():replace(HEADER, backend)
    handle:clearRouteCache()
  end
end
