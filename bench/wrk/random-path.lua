-- GET prefix .. <random line of a file> .. suffix, so a run touches many distinct ids.
-- Arguments (after `--`): ids file, path prefix, optional path suffix.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
done = dofile(dir .. "report.lua")

local ids, prefix, suffix = {}, "/", ""

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then ids[#ids + 1] = line end
  end
  assert(#ids > 0, "no ids in " .. args[1])
  prefix = args[2] or "/"
  suffix = args[3] or ""
  math.randomseed(os.time())
end

function request()
  return wrk.format("GET", prefix .. ids[math.random(#ids)] .. suffix)
end
