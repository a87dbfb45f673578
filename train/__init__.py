"""edge-digits train."""
