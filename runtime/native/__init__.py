"""Native libraries: what their C++ code prints on stderr, and what to say when one will not
load."""
