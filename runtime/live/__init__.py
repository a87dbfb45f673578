"""The camera: frame sources, reading and stabilising, sinks (JSON lines, window, web page),
and the run that joins them (`edge-digits camera`)."""
