"""Inference: the model and its interpreter, the sidecar, preprocessing, reading numbers,
scoring. Imports nothing from live/, bench/ or cli/."""
