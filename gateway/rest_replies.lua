-- The edge's words to a REST caller where Envoy's own would leak the request or mislead a client
-- (gateway.edge._rest_replies_filter). Runs on REST calls only: it is enabled on the routes a REST URL meets before
-- the transcoder maps it, never on a gRPC method's. MARKER, LIMIT_BYTES, CHECK_BYTES, TOO_LARGE, BODY_TOO_LARGE,
-- GET_URLS, URL_VARIABLES, KEPT_STATUS,
-- BODY_RULES, FIELDS, FIELD_NAMES, REPEATED, FIELD_SHAPES, EMPTY_MEANS, FIELD_ENUMS, ENUM_NUMBERS, ENUM_VALUES and
-- ENUM_NAMES
-- are prepended by the renderer.
--
-- - A body the transcoder could not read (not JSON, a value of the wrong type): its parser's words quoted the
--   body around the fault ("...\"secret\": 12345SECRET}\n ^") and the value it refused ("key: invalid value
--   342322194911060454 for type TYPE_STRING"), and a caller's proxies and logs kept them. The local reply mapper
--   hands those words over as text, marked; this keeps what is wrong and where (the reason, the field), not the
--   caller's values, and writes the google.rpc.Status every REST error is.
-- - A message over the services' limit: the backend's gRPC library refuses it RESOURCE_EXHAUSTED, which the
--   transcoder answers 429, and REST clients' retry policies resend a 429 (after Retry-After, or at once). It is
--   413, saying the limit and what to do; so is a BatchQuery whose answer would not fit one reply
--   (REPLY_TOO_LARGE, which says how many keys fit), its words kept.
-- - A map's string value that is not a JSON string ({"claims": {"name": 123}}, true, a list, an object): the
--   transcoder named it by its place in the body ("claims[1].value"; a list or an object it did not even name),
--   where the services name a claim by its item (claims["name"]). It is refused before it is transcoded, named as
--   the services name it (a key not shaped as a name is not repeated: claims[…]); null goes on as before. So is
--   a map's key given twice, which the transcoder refused quoting the key (an ID number, as like as not).
-- - A body naming a field its message does not have ("itmes" for "items", "purpose": {"txet": ...}), or one field
--   twice: the transcoder drops the one and keeps one value of the other without a word (the proto3 JSON mapping,
--   which it has no option to make strict), and the call answered another question than the one asked. It is
--   refused before it is transcoded, naming the field.
-- - A body giving a field its URL binds another value under its lowerCamelCase name ("resourceCode"), which the
--   transcoder's collision check misses (see bound_refusal).
-- - A field given a value of another shape than its own (a list where one value or one object goes, an object
--   where a value or a list of values goes): the transcoder's words named the message holding the field, or
--   nothing ("purpose: not a valid text as /openapi.yaml writes it", ": Proto field is not repeating, cannot start
--   list."), or called a list a single value. It is refused before it is transcoded, naming the field (see SHAPE).
--   So is a single value where a list goes ("items": "name"), which the transcoder read as a one-item list.
-- - An empty list the caller sent for a field whose empty list a service reads as the widest answer ("items": [],
--   every item the caller may have): protobuf sends it as no list, and the call answered more than was asked. It is
--   refused before it is transcoded, naming the field and what leaving it out means (gateway.edge.EMPTY_LIST_MEANS).
-- - A JSON number in an enum field that is none of the enum's numbers ({"type": 99}): the transcoder wrote it into
--   the message as it was, and the service got a value no service knows. It is refused before it is transcoded,
--   naming the field and the enum's names (a string the enum has not as a name the transcoder refuses itself).
-- - A grpc-encoding header on a REST call is dropped (see envoy_on_request).

-- Where a REST call's query parameter names are kept for its reply, and whether its body is being held (the
-- stream's dynamic metadata; never logged).
local METADATA = "govshare.rest_replies"
-- Where the token check leaves the payload of a token it verified (gateway.edge's JWT filter).
local JWT_METADATA = "envoy.filters.http.jwt_authn"

-- A refusal before the transcoder, which leaves the request's content type JSON: Envoy's access log reads the gRPC
-- status of a gRPC request only, and logged every such refusal without one (a 400 naming a misspelt field, a 415, a
-- 413), as it logs a URL no rule maps. Its status goes where the log reads a status the edge kept (KEPT_STATUS,
-- gateway.edge._access_log), as a gRPC-Web call's does.
local function keep_status(handle, code)
  handle:streamInfo():dynamicMetadata():set(KEPT_STATUS, "grpc_status", code)
end

local function json_string(text)
  local escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }
  local escaped = text:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format('\\u%04x', c:byte())
  end)
  return '"' .. escaped .. '"'
end

local function error_info(reason, metadata)
  return '{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":' .. json_string(reason)
      .. ',"domain":"edge.govshare","metadata":' .. metadata .. '}'
end

local function status_body(code, message, details)
  return '{"code":' .. code .. ',"message":' .. json_string(message) .. ',"details":[' .. (details or "") .. ']}'
end

-- A refusal naming a field ("key: not a JSON string …") carries it as the services' do: an ErrorInfo and a
-- google.rpc.BadRequest with the field and what is wrong with it, which clients map onto their form's fields.
-- (``field`` and ``description`` when the message does not start with the field: an unknown query parameter's.)
local function invalid_argument(message, field, description)
  if field == nil then
    -- (… is a map's key the edge does not repeat, claims[…]: its three bytes)
    field, description = message:match('^([%w_%.%[%]"\226\128\166]+): (.+)$')
  end
  if field == nil then
    return status_body(3, message, error_info("INVALID_ARGUMENT", "{}"))
  end
  local violation = '{"field":' .. json_string(field) .. ',"description":' .. json_string(description)
      .. ',"reason":""}'
  return status_body(3, message, error_info("INVALID_ARGUMENT", "{}")
      .. ',{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[' .. violation .. ']}')
end

local TYPES = {
  TYPE_STRING = "a JSON string", TYPE_BOOL = "true or false", TYPE_DOUBLE = "a number", TYPE_FLOAT = "a number",
  TYPE_INT32 = "a 32-bit integer", TYPE_INT64 = "a 64-bit integer (a number or a string of digits)",
  TYPE_UINT32 = "a 32-bit unsigned integer", TYPE_UINT64 = "a 64-bit unsigned integer",
  TYPE_BYTES = "base64", TYPE_ENUM = "one of the enum's names",
}

local function expected(type_name)
  local known = TYPES[type_name]
  if known ~= nil then
    return known
  end
  local message = type_name:match("^type%.googleapis%.com/(.+)$") or type_name
  if message == "google.protobuf.Timestamp" then
    return "an RFC 3339 time (2026-03-01T08:00:00Z; in a URL an offset's + is written %2B, a + being a space)"
  elseif message == "google.protobuf.Duration" then
    return "a duration in seconds (30s)"
  elseif message == "google.protobuf.FieldMask" then
    return "comma-separated field names"
  elseif ENUM_NAMES[message] ~= nil then
    return "one of " .. ENUM_NAMES[message] .. " (or its number)"
  end
  return "a valid " .. message .. " as /openapi.yaml writes it"
end

-- The parser's words without the caller's text: the reason, and the last field named before the fault.
local function syntax_error(text)
  local reason, context, caret = text:match("^(.-)\n(.-)\n( *)%^$")
  if reason == nil then
    return nil
  end
  local before = context:sub(1, #caret)
  local field
  for name in before:gmatch('"([%a_][%w_]*)"%s*:') do
    field = name
  end
  local where = ""
  if field ~= nil then
    where = ', after the field "' .. field .. '"'
  end
  return "the body is not valid JSON: " .. reason:gsub("%.$", "") .. where
      .. " (the edge does not repeat the body's text); send the body as RFC 8259 JSON in UTF-8"
end

-- The converter's words for a body that is JSON but not the request's shape, which name no field (": Root element
-- must be a message."): what to send instead.
local SHAPES = {
  ["Root element must be a message."] = "the body is not a JSON object: send the request's fields as one object, "
      .. "{\"name\": value, ...}, not an array, a string or null (/openapi.yaml gives each call's body)",
  ["Proto field is not repeating, cannot start list."] = "a list ([...]) where a single value goes: send the "
      .. "field's one value (/openapi.yaml gives each field's type)",
}

-- "Could not find field \"<the caller's name>\" in the type \"<message>\".": an unknown query parameter (or a body
-- field the URL binds), named when its name has a field's shape, not when it may be anything else (an ID number);
-- a named one is also the BadRequest's field, as a service names a field it refuses.
-- The transcoder names a nested parameter's last segment ("categry" of ?filter.categry=...): ``names`` (the query
-- string's parameter names, kept by envoy_on_request) gives it whole.
local function as_sent(name, names)
  for sent in (names or ""):gmatch("[^&]+") do
    if sent == name or sent:sub(-#name - 1) == "." .. name then
      return sent
    end
  end
  return name
end

-- Whether ``name`` is one of the query string's parameter names (``names``, kept by envoy_on_request).
local function sent_in_query(name, names)
  for sent in (names or ""):gmatch("[^&]+") do
    if sent == name then
      return true
    end
  end
  return false
end

-- A field of one of the platform's messages given one value (?filter=x, "purpose": "x"): "not a valid
-- govshare.catalog.v1.EntryFilter" said neither that it is an object nor how a query string gives one.
local function object_expected(field, names)
  local sent = as_sent(field, names)
  if sent_in_query(sent, names) then
    return sent .. ": an object, given one value: in a query string give each of its fields on its own, "
        .. "dotted (?" .. sent .. ".<field>=...; /openapi.yaml lists them)"
  end
  return field .. ": an object, given one value: send its fields as one JSON object, {\"<field>\": ...} "
      .. "(/openapi.yaml gives them)"
end

-- A field path as the transcoder writes it, by proto names ("records[1].as_of_time"), as the JSON names it and
-- /openapi.yaml shows it ("records[1].asOfTime"): the edge's own checks name a body's field as written, and a REST
-- caller read one refusal naming change_time and the next changeTime, of the same body.
local function json_path(path)
  if path:find('"', 1, true) then
    return path
  end
  return (path:gsub("_(%w)", string.upper))
end

-- "<field>: invalid value <the caller's value> for type <type>", without the value. ``body_field``: the request
-- field a call's body is (POST /v1/applications' application), which the transcoder named before the body's own
-- ("application.requestedExpireTime") where the edge's checks name the body's fields and /openapi.yaml gives the
-- body's schema ("requestedExpireTime"): left out.
local function type_error(text, names, body_field)
  local field, value, type_name = text:match("^(.-): invalid value (.-) for type (%S+)$")
  if field == nil then
    return nil
  end
  if body_field ~= nil and field:sub(1, #body_field + 1) == body_field .. "." then
    field = field:sub(#body_field + 2)
  end
  field = json_path(field)
  if field == "" and value:match("^Starting an object on a scalar field") then
    return type_name .. ": an object where a single value goes"
  end
  local message = type_name:match("^type%.googleapis%.com/(govshare%..+)$")
  if message ~= nil and ENUM_NAMES[message] == nil then
    return object_expected(field, names)
  end
  return field .. ": not " .. expected(type_name) .. " (the edge does not repeat the value)"
end

-- A bearer token sent in the URL (?access_token=..., RFC 6750's third way, which some HTTP libraries and API tools
-- offer): it was refused as any unknown parameter, pointing to /openapi.yaml's parameters, where no word says
-- where a token goes; and a URL is kept by proxies, browsers' histories and servers' logs.
local TOKEN_IN_URL = "a bearer token goes in the Authorization header (Authorization: Bearer <token>), never in a "
    .. "URL, which proxies, browser histories and logs keep; this one was sent in a URL: get a new one to use"

local function unknown_parameter(text, names)
  local name = text:match('^Could not find field "(.-)" in the type ".-"%.$')
  if name == nil then
    return nil
  end
  name = as_sent(name, names)
  local named, field = "a query parameter", nil
  if name:match("^[%a_][%w_%.]*$") and #name <= 64 then
    named, field = 'the query parameter "' .. name .. '"', name
  end
  if name == "access_token" then
    return named .. " is not one this call takes: " .. TOKEN_IN_URL, field, TOKEN_IN_URL
  end
  local message = named .. " is not one this call takes (the edge repeats only a name a field may have): its "
      .. "parameters are in /openapi.yaml, nested fields dotted (filter.category)"
  return message, field, field and "not a query parameter this call takes: its parameters are in /openapi.yaml"
end

-- The refusal's message, and the field and what is wrong with it when the message does not start with them.
local function parse_failure(text, names, body_field)
  local unnamed = text:match("^: (.*)$")
  local message, field, description = unknown_parameter(text, names)
  if message ~= nil then
    return message, field, description
  end
  return syntax_error(text) or type_error(text, names, body_field) or (unnamed and SHAPES[unnamed]) or text:match("^[^\n]*")
end

local function replace_body(handle, status, body)
  local headers = handle:headers()
  headers:replace(":status", status)
  headers:replace("content-type", "application/json")
  headers:replace("content-length", tostring(#body))
  handle:body():setBytes(body)
end

-- A service's own 429 or 503 says when to retry in its RetryInfo, in the JSON body, which Java's and .NET's retry
-- policies do not read: they read Retry-After (whole seconds, RFC 9110), as the edge's own 429 and 503 send it.
local function retry_after(handle, text)
  local delay = tonumber(text:match('"@type":"type%.googleapis%.com/google%.rpc%.RetryInfo","retryDelay":"([%d%.]+)s"'))
  if delay ~= nil then
    handle:headers():replace("retry-after", tostring(math.max(1, math.ceil(delay))))
  end
end

-- What every REST answer says to caches. An answer may hold personal data (ListAccesses' record keys, a person's
-- name and roles, the reviewer of an entry): a browser page calling a GET through CORS had its answers written to
-- the browser's disk cache (a shared office computer's too), and a proxy may keep what no header forbids, though
-- the edge keeps such data out of URLs for that reason. The console's pages say the same (console/app.py).
local NO_STORE = "no-store"

-- The challenge of a service's 401 (UNAUTHENTICATED), which came without one: HTTP requires it (RFC 9110 15.5.2),
-- and Java's HttpClient built with an Authenticator (an office's authenticating proxy) threw "WWW-Authenticate
-- header missing for response code 401", the JSON saying why lost. A token the edge verified and the service then
-- refused (its system disabled, its secret rotated, a session ended) is challenged as the edge challenges a
-- refused one; a call the edge takes without a token (IssueToken's wrong secret, a SignIn) plainly.
local function service_challenge(handle)
  if handle:streamInfo():dynamicMetadata():get(JWT_METADATA) ~= nil then
    return 'Bearer realm="govshare", error="invalid_token"'
  end
  return 'Bearer realm="govshare"'
end

-- (A headers object is stale once the body has been read: read them again after handle:body().)
function envoy_on_response(handle)
  local headers = handle:headers()
  headers:replace("cache-control", NO_STORE)
  local status = headers:get(":status")
  local kept = handle:streamInfo():dynamicMetadata():get(METADATA)
  local code = tonumber(headers:get("grpc-status") or "")
  if code and (kept ~= nil and kept.holding or (tonumber(status) or 0) >= 400) then
    -- Envoy's own reply to a body past what the edge holds (see held_body), and every refusal made before the
    -- call was a gRPC one, which the access log logged without a status (grpc_status null, as if it had not
    -- failed): a URL no rule maps (404), a URL sent with another method (405), an unknown query parameter (400),
    -- each carrying the code its JSON google.rpc.Status gives (gateway.edge._rest_reply).
    keep_status(handle, code)
  end
  -- The token check's 401 named the request's whole URL as its realm (WWW-Authenticate: Bearer
  -- realm="http://host/v1/entries/<what was typed>?<query>"), where a caller may have typed an ID number, which the
  -- edge repeats nowhere else (a URL no rule maps is 404 "the edge does not repeat it"): the realm is the platform.
  local challenge = headers:get("www-authenticate")
  if challenge ~= nil then
    headers:replace("www-authenticate", (challenge:gsub('realm="[^"]*"', 'realm="govshare"')))
  elseif status == "401" then
    headers:add("www-authenticate", service_challenge(handle))
  end
  if headers:get(MARKER) ~= nil then
    headers:remove(MARKER)
    local body = handle:body()
    local text = body and body:getBytes(0, body:length()) or ""
    replace_body(handle, status, invalid_argument(parse_failure(text, kept and kept.parameters,
        kept and kept.body_field)))
  elseif (status == "429" or status == "503") and headers:get("retry-after") == nil then
    local body = handle:body()
    local text = body and body:getBytes(0, body:length()) or ""
    local size = text:match("Received message larger than max %((%d+) vs%.")
    if status == "429" and size ~= nil then
      replace_body(handle, "413", status_body(8, TOO_LARGE:gsub("{size}", size),
          error_info("MESSAGE_TOO_LARGE", '{"limit_bytes":"' .. LIMIT_BYTES .. '"}')))
    elseif status == "429" and text:find('"reason":"REPLY_TOO_LARGE"', 1, true) then
      -- A BatchQuery asking for more than one reply carries: the same call gets the same answer, so not a 429.
      handle:headers():replace(":status", "413")
    else
      retry_after(handle, text)
    end
  end
end

-- HEAD is GET without the body (RFC 9110 9.3.2), and the transcoder knows no rule for it: a HEAD on a GET URL was
-- 405. On a URL a GET rule maps (GET_URLS: Lua patterns of the path, the renderer's) it goes on as the GET, and
-- Envoy still answers it as HEAD: the GET's status and headers, content-length included, and no body. Elsewhere it
-- stays a HEAD, refused 405 naming the methods the URL takes.
local function maps_a_get(path)
  local bare = path:match("^[^?]*")
  for _, pattern in ipairs(GET_URLS) do
    if bare:match(pattern) then
      return true
    end
  end
  return false
end


-- A body's field names, checked against its message's (FIELDS: each name's kind, "" for a value not looked into,
-- a message's full name, or "map:" and its values' kind). The walk reads the JSON only as far as it must: values
-- are skipped, not decoded. A body it cannot read is left to the transcoder, which says what is wrong with it.
local UNREADABLE = {}
local ESCAPES = { ['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f', n = '\n', r = '\r', t = '\t' }

local function utf8_char(code)
  if code < 0x80 then
    return string.char(code)
  elseif code < 0x800 then
    return string.char(0xC0 + math.floor(code / 0x40), 0x80 + code % 0x40)
  elseif code < 0x10000 then
    return string.char(0xE0 + math.floor(code / 0x1000), 0x80 + math.floor(code / 0x40) % 0x40, 0x80 + code % 0x40)
  end
  return string.char(0xF0 + math.floor(code / 0x40000), 0x80 + math.floor(code / 0x1000) % 0x40,
      0x80 + math.floor(code / 0x40) % 0x40, 0x80 + code % 0x40)
end

local function skip_space(text, pos)
  return text:find("[^ \t\r\n]", pos) or #text + 1
end

-- A name as the transcoder reads it (its escapes decoded: "\u0069tems" is items), and the position after it.
local function read_name(text, pos)
  local parts, i = {}, pos + 1
  while true do
    local stop = text:find('["\\]', i)
    if stop == nil then
      error(UNREADABLE)
    end
    parts[#parts + 1] = text:sub(i, stop - 1)
    if text:byte(stop) == 34 then
      return table.concat(parts), stop + 1
    end
    local kind = text:sub(stop + 1, stop + 1)
    if kind == "u" then
      local code = tonumber(text:sub(stop + 2, stop + 5), 16)
      if code == nil then
        error(UNREADABLE)
      end
      i = stop + 6
      local low = text:sub(i, i + 1) == "\\u" and tonumber(text:sub(i + 2, i + 5), 16)
      if code >= 0xD800 and code <= 0xDBFF and low and low >= 0xDC00 and low <= 0xDFFF then
        code, i = 0x10000 + (code - 0xD800) * 0x400 + (low - 0xDC00), i + 6
      end
      parts[#parts + 1] = utf8_char(code)
    elseif ESCAPES[kind] ~= nil then
      parts[#parts + 1], i = ESCAPES[kind], stop + 2
    else
      error(UNREADABLE)
    end
  end
end

local function skip_string(text, pos)
  local i = pos + 1
  while true do
    local stop = text:find('["\\]', i)
    if stop == nil then
      error(UNREADABLE)
    elseif text:byte(stop) == 34 then
      return stop + 1
    end
    i = stop + 2
  end
end

local walk_value, loose

-- A JSON number at pos given a field of ``enum`` (a full name, FIELD_ENUMS') that is none of its numbers (its
-- ENUM_NUMBERS): refused, naming ``path``. A fraction or a string is the transcoder's to refuse.
local function check_enum_number(text, pos, enum, path)
  local number = tonumber(text:match("^-?[%d%.eE+-]+", pos) or "")
  if number ~= nil and number == math.floor(number) and not ENUM_NUMBERS[enum][number] then
    error({ enum_number = path, enum = enum })
  elseif text:find("^true", pos) or text:find("^false", pos) then
    error({ not_enum = path, enum = enum })
  end
end

-- A JSON string at pos given a field of ``enum`` that is none of its names (ENUM_VALUES) nor of its numbers written
-- as a string ("2"): refused, naming ``path``; the position after it. The transcoder refused it itself, but named an
-- element of a list by a wrong place ("purposes": ["PURPOSE_TYPE_WORK_REFERENCE", "BAD"] was purposes[0]).
local function check_enum_name(text, pos, enum, path)
  local name, after = read_name(text, pos)
  local number = name:match("^%-?%d+$") and tonumber(name)
  if not ENUM_VALUES[enum][name] and not (number and ENUM_NUMBERS[enum][number]) then
    error({ not_enum = path, enum = enum })
  end
  return after
end

-- What a field of each shape (FIELD_SHAPES, the renderer's) was given instead, by the JSON value's first byte: the
-- words of its refusal, after the field's name. A null is every field's "not set", and goes on.
local SHAPE = {
  value = {
    [91] = "a list ([...]) where a single value goes: send the field's one value (/openapi.yaml gives each field's "
        .. "type)",
    [123] = "an object where a single value goes: send the field's one value (/openapi.yaml gives each field's "
        .. "type)",
  },
  values = {
    [123] = "an object where a list of values goes: send the values as a list, [value, ...] (/openapi.yaml gives "
        .. "each field's type)",
  },
  strings = {
    [123] = "an object where a list of values goes: send the values as a list, [value, ...] (/openapi.yaml gives "
        .. "each field's type)",
  },
  object = {
    [91] = "a list ([...]) where one object goes: send the field's one {...} (/openapi.yaml gives each field's "
        .. "type)",
  },
}

-- A repeated field given one value, not a list ("items": "name", "items": 5, "items": {...} for a list of objects):
-- the transcoder read it as a list of that one value without a word, and the call answered for one item where the
-- caller may have meant others, or a value of the wrong field. Refused naming the field; null goes on as before.
local SINGLE_FOR_LIST = "a single value where a list goes: send the values as a list, [value, ...] (/openapi.yaml "
    .. "gives each field's type)"
local OBJECT_FOR_LIST = "one object where a list of objects goes: send them as a list, [{...}, ...] (/openapi.yaml "
    .. "gives each field's type)"

local function not_a_list(text, pos, path)
  local first = text:byte(pos)
  if first == nil or first == 91 or text:find("^null[%s,}]", pos) or text:find("^null$", pos) then
    return
  end
  error({ shape = path, words = first == 123 and OBJECT_FOR_LIST or SINGLE_FOR_LIST })
end

-- An element of a list of values that is an object.
local OBJECT_IN_VALUES = "an object in a list of values: send each element as a single value (/openapi.yaml gives "
    .. "each field's type)"

-- The forms of JSON that RFC 8259 does not allow and the transcoder reads all the same: a name not in double quotes
-- ({items: [...]}, {'items': [...]}), a string in single quotes, a comma before a closing bracket. The walk below
-- could not read them, and left such a body to the transcoder unchecked: {itmes: ["name"]} or a trailing comma
-- anywhere before a misspelt field asked for every item the grant allows, without a word. Refused, naming where
-- (the object or list holding it) and what; ``closing`` is the bracket expected there (0: a value).
local LOOSE = {
  [39] = "a name or a string in single quotes, where JSON writes double quotes",
  [125] = "a comma before the closing }",
  [93] = "a comma before the closing ]",
  name = "a name without quotes, where JSON writes it in double quotes",
}

loose = function(text, pos, path, closing)
  local byte = text:byte(pos)
  local words
  if byte == 39 then
    words = LOOSE[39]
  elseif byte == closing then
    words = LOOSE[closing]
  elseif closing == 125 and byte ~= nil and text:find("^[%a_$]", pos) then
    words = LOOSE.name
  end
  if words ~= nil then
    error({ loose = path or "", words = words })
  end
end

-- An object of ``kind`` (a message's full name, "map:..." or nil: not looked into) at pos; the position after it.
local function walk_object(text, pos, kind, path)
  local fields, values
  if kind ~= nil and kind:sub(1, 4) == "map:" then
    values = kind:sub(5)
  elseif kind ~= nil then
    fields = FIELDS[kind]
  end
  pos = skip_space(text, pos + 1)
  if text:byte(pos) == 125 then
    return pos + 1
  end
  local seen = {}
  while true do
    if text:byte(pos) ~= 34 then
      loose(text, pos, path, 125)
      error(UNREADABLE)
    end
    local name, child, child_path
    name, pos = read_name(text, pos)
    pos = skip_space(text, pos)
    if text:byte(pos) ~= 58 then
      error(UNREADABLE)
    end
    if fields ~= nil then
      child = fields[name]
      if child == nil then
        error({ name = name, path = path, message = kind })
      end
      -- One field, whichever of its names (resourceCode, resource_code) is used.
      local field = (name:gsub("_(%w)", string.upper))
      if seen[field] ~= nil then
        error({ twice = seen[field], name = name, path = path })
      end
      seen[field] = name
      child_path = path == "" and name or path .. "." .. name
    elseif values ~= nil then
      child, child_path = values, path .. "[…]"
      if name:match("^[%a_][%w_]*$") and #name <= 64 then
        child_path = path .. '["' .. name .. '"]'
      end
      -- A key given twice: the transcoder refused it in its own words, naming the entry by its place
      -- (claims[1]) and quoting the key whole ("Repeated map key: '342322194911060454' is already set.").
      if seen[name] ~= nil then
        error({ key_twice = child_path })
      end
      seen[name] = true
    end
    local listed = fields ~= nil and REPEATED[kind] ~= nil and REPEATED[kind][name] ~= nil
    local means = fields ~= nil and EMPTY_MEANS[kind] ~= nil and EMPTY_MEANS[kind][name] or nil
    if means ~= nil and text:find("^%[[ \t\r\n]*%]", skip_space(text, pos + 1)) then
      error({ empty = child_path, means = means })
    end
    local shape = fields ~= nil and FIELD_SHAPES[kind] ~= nil and FIELD_SHAPES[kind][name] or nil
    if shape ~= nil then
      local words = SHAPE[shape][text:byte(skip_space(text, pos + 1))]
      if words ~= nil then
        error({ shape = child_path, words = words })
      end
      if shape == "values" or shape == "strings" then
        listed = shape
      end
    end
    if listed then
      not_a_list(text, skip_space(text, pos + 1), child_path)
    end
    local enum = fields ~= nil and FIELD_ENUMS[kind] ~= nil and FIELD_ENUMS[kind][name] or nil
    pos = skip_space(text, walk_value(text, pos + 1, child, child_path, listed, enum))
    local next_byte = text:byte(pos)
    if next_byte == 125 then
      return pos + 1
    elseif next_byte ~= 44 then
      error(UNREADABLE)
    end
    pos = skip_space(text, pos + 1)
  end
end

-- ``listed``: the array is the value of a repeated field of a known message (REPEATED, the renderer's): an element
-- that is null or a list is refused, naming it (and one that is an object, when ``listed`` is "values": a list of
-- scalars or enums, whose element the transcoder named by the list alone). The transcoder dropped a null element ("keys": ["A", null, "B"] was two keys, and BatchQuery's results, in
-- the order given, no longer lined up with the caller's list; "items": [null] asked for every item) and flattened
-- a nested list, without a word.
local function walk_array(text, pos, kind, path, listed, enum)
  if kind == "" or kind == "map:" then
    kind = nil
  end
  pos = skip_space(text, pos + 1)
  if text:byte(pos) == 93 then
    return pos + 1
  end
  local index = 0
  while true do
    pos = skip_space(text, pos)
    if index > 0 and text:byte(pos) == 93 then
      loose(text, pos, path, 93)
    end
    if listed then
      local first = text:byte(pos)
      if first == 91 or (first == 110 and text:find("^null[%s,%]]", pos)) then
        error({ in_list = path .. "[" .. index .. "]", nested = first == 91 })
      elseif first == 123 and (listed == "values" or listed == "strings") then
        error({ shape = path .. "[" .. index .. "]", words = OBJECT_IN_VALUES })
      elseif listed == "strings" and first ~= 34 and first ~= nil and first ~= 44 then  -- (",,": the transcoder's)
        error({ not_string = path .. "[" .. index .. "]" })
      end
    end
    pos = skip_space(text, walk_value(text, pos, kind, (kind or enum) and path .. "[" .. index .. "]", nil, enum))
    local next_byte = text:byte(pos)
    if next_byte == 93 then
      return pos + 1
    elseif next_byte ~= 44 then
      error(UNREADABLE)
    end
    pos, index = pos + 1, index + 1
  end
end

-- The places of the lower-case "t" and "z" of the RFC 3339 times in the body being checked (check_body), which it
-- writes in upper case before the transcoder reads it. Shared by the worker's requests: check_body empties it,
-- walks the body and writes the letters without yielding in between, so no other request's walk comes between.
local time_letters = {}

-- An RFC 3339 time at pos (a JSON string, given a Timestamp field): RFC 3339 (5.6) allows its "T" and "Z" in
-- lower case ("2026-03-01t08:00:00z", as some libraries and hand-written bodies write it), and the transcoder
-- refused them as "not an RFC 3339 time". Their places are noted for check_body; the position after the string.
local function note_time(text, pos)
  local after = skip_string(text, pos)
  local value = text:sub(pos + 1, after - 2)
  if value:match("^%d%d%d%d%-%d%d%-%d%d[tT]%d%d:%d%d:%d%d") then
    if value:byte(11) == 116 then
      time_letters[#time_letters + 1] = pos + 11
    end
    if value:byte(-1) == 122 then
      time_letters[#time_letters + 1] = after - 2
    end
  end
  return after
end

-- ``text`` with the bytes at ``places`` in upper case.
local function upper_at(text, places)
  local parts, last = {}, 0
  table.sort(places)
  for _, place in ipairs(places) do
    parts[#parts + 1] = text:sub(last + 1, place - 1) .. text:sub(place, place):upper()
    last = place
  end
  parts[#parts + 1] = text:sub(last + 1)
  return table.concat(parts)
end

walk_value = function(text, pos, kind, path, listed, enum)
  if kind == "" or kind == "map:" then
    kind = nil
  end
  pos = skip_space(text, pos)
  local first = text:byte(pos)
  if kind == "time" then
    if first == 34 then
      return note_time(text, pos)
    end
    kind = nil
  end
  if first == 39 then
    loose(text, pos, path, 0)
  end
  if kind == "string" and first ~= 34 and first ~= nil and text:sub(pos, pos + 3) ~= "null" then
    error({ not_string = path })
  elseif first == 123 then
    return walk_object(text, pos, kind, path)
  elseif first == 91 then
    return walk_array(text, pos, kind, path, listed, enum)
  elseif first == 34 and enum ~= nil then
    return check_enum_name(text, pos, enum, path)
  elseif first == 34 then
    return skip_string(text, pos)
  elseif first == nil then
    error(UNREADABLE)
  elseif enum ~= nil then
    check_enum_number(text, pos, enum, path)
  end
  return text:find("[,%]}%s]", pos) or #text + 1
end

local function refuse(handle, status, code, body)
  keep_status(handle, code)
  handle:respond({ [":status"] = status, ["content-type"] = "application/json", ["grpc-status"] = tostring(code),
      ["cache-control"] = NO_STORE }, body)
end

-- The request's body, held whole. Envoy refuses one past what the edge holds (a chunked body, which declared no
-- length) 413 itself, in its own reply, before this returns: "holding" tells envoy_on_response to keep that reply's
-- status for the log.
local function held_body(handle)
  handle:streamInfo():dynamicMetadata():set(METADATA, "holding", true)
  local body = handle:body()
  handle:streamInfo():dynamicMetadata():set(METADATA, "holding", false)  -- (an object read before body() is stale)
  return body
end

-- The body message of the REST rule a request meets (BODY_RULES: verb, Lua pattern of the path capturing its
-- variables, message, and the fields the URL binds whose lowerCamelCase name is not their proto name, each with its
-- variable's place), or nil; then those fields, the URL's variables, as sent (percent-encoded), the call's fields
-- beside its body, and the request field the body is ("" when it is the whole request).
local function body_message(method, path)
  local bare = path:match("^[^?]*")
  for _, rule in ipairs(BODY_RULES) do
    if rule[1] == method then
      local captures = { bare:match(rule[2]) }
      if captures[1] ~= nil then
        return rule[3], rule[4], captures, rule[5], rule[6]
      end
    end
  end
  return nil
end

local function percent_decoded(segment)
  return (segment:gsub("%%(%x%x)", function(hex)
    return string.char(tonumber(hex, 16))
  end))
end

-- The refusal of a body that gives a field the URL binds, under its lowerCamelCase name, another value than the
-- URL ({"resourceCode": "102001/000001"} to /v1/resources/101001%2F000001:query), or nil. The transcoder refuses
-- it only under the proto name (resource_code): under the name a JSON library writes, the URL's value was used
-- without a word, and the call answered about another object than the body named. The values are not repeated
-- (a misplaced one may be an ID number).
local function bound_refusal(text, bound, captures)
  if next(bound) == nil then
    return nil
  end
  local pos = skip_space(text, 1)
  if text:byte(pos) ~= 123 then
    return nil
  end
  pos = skip_space(text, pos + 1)
  while text:byte(pos) == 34 do
    local name
    name, pos = read_name(text, pos)
    pos = skip_space(text, pos)
    if text:byte(pos) ~= 58 then
      return nil
    end
    pos = skip_space(text, pos + 1)
    local place = bound[name]
    if place ~= nil and text:byte(pos) == 34 then
      local value
      value, pos = read_name(text, pos)
      local sent = captures[place]
      if sent ~= nil and value ~= percent_decoded(sent) then
        local variable = name:gsub("%u", function(letter) return "_" .. letter:lower() end)
        return name .. ": differs from the {" .. variable .. "} the URL gives (the edge does not repeat the "
            .. "values): the URL names the object; drop the field from the body, or give it the URL's value"
      end
    else
      pos = walk_value(text, pos, nil, "")
    end
    pos = skip_space(text, pos)
    if text:byte(pos) ~= 44 then
      return nil
    end
    pos = skip_space(text, pos + 1)
  end
  return nil
end

-- The refusal of a body naming a field its message does not have, or nil. A name is repeated only when it has a
-- field's shape (a body may hold an ID number where a name goes).
-- A field given twice in one object ({"items": [...], "items": [...]}, or as items and its proto name): the
-- transcoder kept one of the values without a word.
local function given_twice(found)
  local field = found.path == "" and found.name or found.path .. "." .. found.name
  local names = found.twice == found.name and "" or " (as " .. found.twice .. " and " .. found.name .. ")"
  return field .. ": given twice in one object" .. names .. ": the transcoder would keep one of the values "
      .. "without a word; give it once"
end

-- The refusal of a body naming a field its message does not have, or one field twice, or nil. ``parameters``: the
-- call's fields beside a body that is one of them (BODY_RULES' fifth), which go in the query string.
local function body_refusal(text, message, parameters)
  if text:byte(skip_space(text, 1)) ~= 123 then
    return nil
  end
  local ok, found = pcall(walk_value, text, 1, message, "")
  if ok or type(found) ~= "table" then
    return nil
  elseif found.not_string ~= nil then
    return found.not_string .. ": not a JSON string (the edge does not repeat the value)"
  elseif found.in_list ~= nil and found.nested then
    return found.in_list .. ": a list inside a list, which the transcoder would flatten without a word: send one "
        .. "list of values"
  elseif found.in_list ~= nil then
    return found.in_list .. ": null in a list, which the transcoder would drop without a word (the elements after "
        .. "it moving up one place): give the element a value, or leave it out"
  elseif found.shape ~= nil then
    return found.shape .. ": " .. found.words
  elseif found.loose ~= nil then
    return (found.loose == "" and "body" or found.loose) .. ": not valid JSON (RFC 8259): " .. found.words
        .. ", which the transcoder would read loosely, past the edge's checks of the body (the edge does not "
        .. "repeat the body's text); send the body as RFC 8259 JSON"
  elseif found.not_enum ~= nil then
    return found.not_enum .. ": not one of " .. (ENUM_NAMES[found.enum] or "the names /openapi.yaml gives")
        .. " (or its number) (the edge does not repeat the value)"
  elseif found.enum_number ~= nil then
    return found.enum_number .. ": a number that is none of " .. found.enum:match("[^.]+$") .. "'s values (the edge "
        .. "does not repeat it): send one of " .. (ENUM_NAMES[found.enum] or "the names /openapi.yaml gives")
  elseif found.empty ~= nil then
    return found.empty .. ": an empty list, which reaches the service as no list at all, and it would answer for "
        .. found.means .. ": leave the field out to mean that, or list the ones wanted"
  elseif found.key_twice ~= nil then
    return found.key_twice .. ": given twice in one map (the edge does not repeat the key): give each key once"
  elseif found.path == nil then
    return nil
  elseif found.twice ~= nil then
    return given_twice(found)
  end
  local short = found.message:match("[^.]+$")
  local parameter = found.path == "" and parameters and parameters[found.name]
  if parameter then
    return found.name .. ": not a field of the body (a " .. short .. "): it is a query parameter of this call, "
        .. "sent in the URL (?" .. parameter .. "=...), as /openapi.yaml gives it"
  end
  local known = "its fields are " .. FIELD_NAMES[found.message] .. " (/openapi.yaml gives every call's body)"
  if found.name:match("^[%a_][%w_]*$") and #found.name <= 64 then
    local field = found.path == "" and found.name or found.path .. "." .. found.name
    return field .. ": not a field of " .. short .. ", and the transcoder would drop it without a word: check "
        .. "its spelling; " .. known
  end
  return (found.path == "" and "body" or found.path) .. ": holds a name that is not a field of " .. short
      .. " (the edge repeats only a name a field may have): " .. known
end

local function check_body(handle, headers)
  local message, bound, captures, parameters, body_field = body_message(headers:get(":method"), headers:get(":path"))
  local length = tonumber(headers:get("content-length") or "0")
  if message == nil then
    return
  end
  if body_field ~= "" then
    handle:streamInfo():dynamicMetadata():set(METADATA, "body_field", body_field)
  end
  -- A body larger than the edge holds to check is refused, not passed on unchecked (gateway.edge.BODY_CHECK_BYTES).
  if length > tonumber(CHECK_BYTES) then
    refuse(handle, "413", 8,
        status_body(8, (BODY_TOO_LARGE:gsub("{size}", tostring(length))),
            error_info("BODY_TOO_LARGE", '{"limit_bytes":"' .. CHECK_BYTES .. '"}')))
    return
  end
  local body = held_body(handle)
  if body == nil or body:length() == 0 then
    return
  end
  local text = body:getBytes(0, body:length())
  -- A file saved as "UTF-8 with BOM" (Notepad, Windows PowerShell's Out-File and Set-Content) begins with a byte
  -- order mark, which the transcoder refused as "not valid JSON: Expected a value", nothing saying what was wrong
  -- with a body that looked right. RFC 8259 lets a parser ignore it: the edge drops it.
  if text:sub(1, 3) == "\239\187\191" then
    text = text:sub(4)
    body:setBytes(text)
    handle:headers():replace("content-length", tostring(#text))
  end
  time_letters = {}
  local refusal = body_refusal(text, message, parameters)
  if refusal == nil then
    local ok, found = pcall(bound_refusal, text, bound, captures)
    refusal = ok and found or nil
  end
  if refusal ~= nil then
    refuse(handle, "400", 3,
        invalid_argument(refusal))
  elseif #time_letters > 0 then
    text = upper_at(text, time_letters)
    body:setBytes(text)
    handle:headers():replace("content-length", tostring(#text))
  end
end

-- A query parameter giving a time (TIME_PARAMETERS: ?startTime=2026-03-01t00:00:00z), its "t" and "z" written in
-- upper case, as a body's (note_time); the path as it was when none is.
local function upper_case_times(path)
  local bare, query = path:match("^([^?]*)%?(.*)$")
  if query == nil or not query:find("[tz]") then
    return path
  end
  local changed = false
  local parameters = {}
  for parameter in query:gmatch("[^&]+") do
    local name, value = parameter:match("^([^=]*)=(.*)$")
    if name ~= nil and TIME_PARAMETERS[name] and value:match("^%d%d%d%d%-%d%d%-%d%d[tT]") then
      local upper = value:sub(1, 10) .. value:sub(11, 11):upper() .. value:sub(12):gsub("z$", "Z")
      changed = changed or upper ~= value
      parameter = name .. "=" .. upper
    end
    parameters[#parameters + 1] = parameter
  end
  return changed and bare .. "?" .. table.concat(parameters, "&") or path
end

-- The query string's parameter names (not their values), for a refusal naming one (as_sent).
local function keep_parameter_names(handle, path)
  local query = path:match("%?(.+)$")
  if query ~= nil then
    local names = {}
    for parameter in query:gmatch("[^&]+") do  -- (one pass: a pattern searching for "name=" backtracks per value)
      names[#names + 1] = parameter:match("^[^=]*")
    end
    handle:streamInfo():dynamicMetadata():set(METADATA, "parameters", table.concat(names, "&"))
  end
end

-- A body declared in another charset than UTF-8 (content-type: application/json; charset=GBK, or Apache HttpClient's
-- StringEntity default, text/plain; charset=ISO-8859-1) was read as UTF-8 all the same: GBK bytes that happen to be
-- valid UTF-8 went on as other characters (系统 as ϵͳ), and ISO-8859-1 had written each Chinese character as '?',
-- which went on as '?', into a record or an application. The charset is refused, named: JSON is UTF-8 (RFC 8259).
local function refuse_charset(handle, content_type)
  local charset = content_type and content_type:lower():match(';%s*charset%s*=%s*"?([^";%s]+)')
  if charset == nil or charset == "utf-8" or charset == "utf8" then
    return false
  end
  local declared = content_type:match(';%s*[Cc][Hh][Aa][Rr][Ss][Ee][Tt]%s*=%s*"?([^";%s]+)')
    or charset
  refuse(handle, "415", 3,
      invalid_argument("the body is declared in charset " .. declared:sub(1, 40) .. ", and the edge reads JSON "
          .. "in UTF-8 only (RFC 8259; a charset without Chinese, ISO-8859-1, has already written each Chinese "
          .. "character as '?'): encode the body in UTF-8 and send content-type: application/json; charset=utf-8"))
  return true
end

-- A body declared compressed (content-encoding gzip, br, deflate: anything but identity) is 415, saying so: the edge
-- does not undo it. The body's checks here stepped aside for any content-encoding, and the transcoder reads the
-- bytes as JSON whatever the header says: a plain JSON body sent with content-encoding: identity (which says it is
-- not compressed) or gzip went on unchecked, a misspelt "itmes" asking for every item the grant allows. A real
-- compressed body was refused only once the transcoder failed on it (gateway.edge._compressed_body_reply's 415, in
-- the same words). content-encoding: identity says nothing, and is dropped: the body is checked.
local function refuse_encoding(handle)
  local headers = handle:headers()
  local encoding = headers:get("content-encoding")
  if encoding == nil then
    return false
  end
  if encoding:lower():gsub("identity", ""):gsub("[%s,]", "") == "" then
    headers:remove("content-encoding")
    return false
  end
  refuse(handle, "415", 3,
      invalid_argument("the body is compressed (content-encoding: " .. encoding:sub(1, 40) .. "), which the edge "
          .. "does not undo: send the JSON body uncompressed, without content-encoding"))
  return true
end

-- A body sent as an HTML form (application/x-www-form-urlencoded, key=k&purpose.type=..., or multipart/form-data)
-- was read as JSON all the same, and refused "the body is not valid JSON: Unexpected token", nothing saying that the
-- edge takes no form and what it takes. It is 415, saying so. A urlencoded body that is a JSON object or list (curl
-- -d '{...}' without a content-type sends it so) goes on, as before; so does an empty one.
local FORMS = { ["application/x-www-form-urlencoded"] = true, ["multipart/form-data"] = true }

local function refuse_form(handle, content_type)
  local media = content_type and content_type:lower():match("^%s*([^;%s]+)")
  local length = tonumber(handle:headers():get("content-length") or "0") or 0
  if media == nil or FORMS[media] == nil or length > tonumber(CHECK_BYTES) then
    return false -- (one too large to check is check_body's 413)
  end
  local body = held_body(handle)
  if body == nil or body:length() == 0 then
    return false
  end
  local start = body:getBytes(0, math.min(body:length(), 256))
  if media ~= "multipart/form-data" and (start:match("^[ \t\r\n]*[{%[]") or start:match("^[ \t\r\n]*$")) then
    return false
  end
  refuse(handle, "415", 3,
      invalid_argument("the body is sent as an HTML form (content-type " .. media .. "), and the edge reads JSON only: "
          .. "send the call's fields as one JSON object, {\"name\": value, ...}, with content-type: application/json "
          .. "(/openapi.yaml gives each call's body)"))
  return true
end

-- A GET's fields are its query parameters: its rule has no body, and /openapi.yaml gives none. The transcoder read a
-- GET's JSON body as the request all the same, and unchecked (the checks above are for the rules that take a body):
-- a misspelt field was dropped without a word, {"filter": {...}} filtered, and a code other than the URL's was
-- refused in the transcoder's words, quoting both values. A body that is empty, blanks, or an empty object (a client
-- library that sends {} with every request) says nothing, and passes.
local GET_BODY = "a GET takes no body: this call's fields go in the query string (?pageSize=20&filter.category=..., "
    .. "nested fields dotted), as /openapi.yaml gives them; send the request without a body"

local function refuse_get_body(handle, path)
  local body = held_body(handle)
  if body == nil or body:length() == 0 then
    return
  end
  local text = body:length() <= 64 and body:getBytes(0, body:length()) or "-"
  if text:match("^%s*$") or text:match("^%s*{%s*}%s*$") then
    return
  end
  if maps_a_get(path) then
    refuse(handle, "400", 3,
        invalid_argument(GET_BODY))
  end
end

-- A URL ending in a slash, or holding two in a row or one before a custom method's ":" (/v1/tokens/, /v1/entries//X,
-- /v1/resources/X/:query), which no operation's URL does and /openapi.yaml gives none of: the transcoder mapped it
-- to the operation all the same, but the checks here match each operation's URL as /openapi.yaml writes it, and let
-- it pass unchecked: {"systemI": ...} to /v1/tokens/ issued a token without a word, "items": [] asked for every
-- item, and a GET's body was read as its request. It is 404, as a URL no rule maps, saying which slash to drop.
local EMPTY_SEGMENT = "no operation has this URL: it ends in a slash, or holds two slashes in a row or one before a "
    .. "custom method's ':', which no operation's URL does (the edge does not repeat it): drop the extra slash "
    .. "(/v1/entries, not /v1/entries/); each operation's method and URL are in /openapi.yaml"

local function refuse_empty_segment(handle, path)
  local bare = path:match("^[^?]*")
  -- The root (the REST base URL `govshare up` prints, opened in a browser) is no URL with a slash too many: it was
  -- told to drop one, and gets the 404 of a URL no rule maps, which says where the operations are.
  if bare == "/" or bare:sub(-1) ~= "/" and not bare:find("//", 1, true) and not bare:find("/:", 1, true) then
    return false
  end
  refuse(handle, "404", 5, status_body(5, EMPTY_SEGMENT, error_info("NOT_FOUND", "{}")))
  return true
end

-- A query parameter's name written percent-encoded (?c%6Fde=B, ?page%53ize=2) is 400: the transcoder decodes it,
-- but the edge's routes check the names as written, so GET /v1/entries/A?c%6Fde=B answered about B where the URL
-- names A (?code=B is refused: gateway.edge._url_field_in_query), and ?page%53ize=1&pageSize=2 kept one of the two
-- without a word. No name needs it: they are letters, digits, '_' and '.'.
-- A '%' in a URL that does not begin a percent-encoded byte (two hexadecimal digits after it: %zz, a lone %, a cut
-- %2): the transcoder kept it as it was, so /v1/entries/101001%zz000001 reached the catalog as the code
-- "101001%zz000001", refused as no code's shape, and ?filter.subject=%zz searched for the text "%zz", answering an
-- empty page without a word. It is 400 naming the URL's variable ({code}) or the query parameter, not repeating
-- the value (a mistyped one may be an ID number). A cut UTF-8 character (%E4%B8) is well-formed here: the service
-- says it is not UTF-8, naming its field.
local BAD_ESCAPE = "holds a '%' that begins no percent-encoded byte (two hexadecimal digits after it; the edge does "
    .. "not repeat the value): a URL writes a '%' itself as %25, a code's '/' as %2F, and text other than ASCII "
    .. "as its UTF-8 bytes (人口 as %E4%BA%BA%E5%8F%A3); encode the value once with a URL encoder"

local function bad_escape(text)
  return text:find("%%[^%x]") ~= nil or text:find("%%%x[^%x]") ~= nil or text:find("%%%x?$") ~= nil
end

-- The URL's variable whose segment holds a bad escape ("{code}"), or the segment's place ("its 3rd segment").
local function bad_segment(bare)
  for _, rule in ipairs(URL_VARIABLES) do
    local captures = { bare:match(rule[1]) }
    for place, segment in ipairs(captures) do
      if bad_escape(segment) then
        return rule[2][place]
      end
    end
  end
  return nil
end

local function refuse_bad_escape(handle, path)
  if not path:find("%", 1, true) then
    return false
  end
  local bare, query = path:match("^([^?]*)%??(.*)$")
  local message, field
  if bad_escape(bare) then
    field = bad_segment(bare)
    if field ~= nil then
      message = "the URL's {" .. field .. "} " .. BAD_ESCAPE
    else
      message = "the URL's path " .. BAD_ESCAPE
    end
  else
    for parameter in query:gmatch("[^&]+") do
      local name = parameter:match("^[^=]*")
      if name:find("%", 1, true) then
        local decoded = percent_decoded(name)
        if decoded:match("^[%a_][%w_%.]*$") and #decoded <= 64 then
          field = decoded
        end
        message = "a query parameter's name is percent-encoded" .. (field and " (" .. field .. ")" or "")
            .. ": write each name as /openapi.yaml gives it, in letters, digits, '_' and '.', unencoded (only the "
            .. "values are percent-encoded); the edge checks the names as written"
        refuse(handle, "400", 3, invalid_argument(message, field, field and "a percent-encoded name: write it "
            .. "unencoded"))
        return true
      end
      if bad_escape(parameter) then
        local name = parameter:match("^[^=]*")
        if name:match("^[%a_][%w_%.]*$") and #name <= 64 then
          field, message = name, "the query parameter " .. name .. " " .. BAD_ESCAPE
        else
          message = "a query parameter " .. BAD_ESCAPE
        end
        break
      end
    end
  end
  if message == nil then
    return false
  end
  refuse(handle, "400", 3, invalid_argument(message, field, field and BAD_ESCAPE))
  return true
end

function envoy_on_request(handle)
  local headers = handle:headers()
  -- A REST body is JSON, which the transcoder writes into an uncompressed gRPC message: a grpc-encoding the
  -- client sent (a library's default, a proxy's) says nothing of it, and passed on, one the backend's gRPC
  -- library does not know failed the call HTTP 500 INTERNAL and spoiled the edge's connection to that backend
  -- for other callers' compressed calls (gateway.edge._grpc_encoding_unknown answers a gRPC caller's).
  headers:remove("grpc-encoding")
  local method = headers:get(":method")
  if refuse_empty_segment(handle, headers:get(":path")) or refuse_bad_escape(handle, headers:get(":path")) then
    return
  end
  keep_parameter_names(handle, headers:get(":path"))
  local path = headers:get(":path")
  local times = upper_case_times(path)
  if times ~= path then
    headers:replace(":path", times)
  end
  if method == "HEAD" and maps_a_get(headers:get(":path")) then
    headers:replace(":method", "GET")
    refuse_get_body(handle, headers:get(":path"))
  elseif method == "GET" then
    refuse_get_body(handle, headers:get(":path"))
  elseif method == "POST" or method == "PATCH" or method == "PUT" then
    if not refuse_encoding(handle) and not refuse_charset(handle, headers:get("content-type"))
        and not refuse_form(handle, headers:get("content-type")) then
      check_body(handle, handle:headers())
    end
  end
end
