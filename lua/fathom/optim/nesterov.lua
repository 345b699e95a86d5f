-- optim/nesterov.lua -- optim.nesterov: the same as optim.nag (Nesterov's accelerated gradient).
return require 'fathom.optim.nag'
