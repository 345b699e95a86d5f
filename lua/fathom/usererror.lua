-- fathom/usererror.lua -- failures meant for the person running a recipe (a diverged
-- loss, a corrupt checkpoint, options that do not fit the run): a message and an exit
-- status, printed without a traceback or file position by fathom.recipe.main.
local M = {}

local UserError = {}
UserError.__index = UserError
UserError.__tostring = function(e) return e.message end

-- code: the process exit status (1; 2 for usage errors; 130 for an interrupted run).
function M.new(message, code)
  return setmetatable({ message = message, code = code or 1 }, UserError)
end
function M.is(e) return getmetatable(e) == UserError or require('fathom.opts').isUsageError(e) end
function M.fail(fmt, ...) error(M.new(fmt:format(...)), 0) end
function M.usage(fmt, ...) error(require('fathom.opts').usageError(fmt:format(...)), 0) end

return M
