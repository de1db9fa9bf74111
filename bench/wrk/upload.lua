-- POSTs one prebuilt multipart/form-data body over and over.
-- Arguments (after `--`): body file, multipart boundary.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
done = dofile(dir .. "report.lua")

function init(args)
  local f = assert(io.open(args[1], "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. args[2]
end
