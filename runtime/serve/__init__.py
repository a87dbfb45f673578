"""`edge-digits serve`: classification over HTTP (service.py)."""
