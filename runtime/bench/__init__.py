"""`edge-digits bench`: settings measured in fresh worker processes, accuracy, reports."""
