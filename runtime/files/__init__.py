"""Files: expanding PATH arguments, atomic writing and hashing, the MNIST loader. The lowest
layer besides errors and native/: imports nothing from core/, live/, bench/ or cli/."""
