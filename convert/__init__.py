"""edge-digits convert."""
