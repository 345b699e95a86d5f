local fathom = require 'fathom'
describe('smoke', function()
  it('builds a tensor', function()
    assert.are.equal(6, fathom.ones(2, 3):sum())
  end)
end)
