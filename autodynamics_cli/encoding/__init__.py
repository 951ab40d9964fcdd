"""Torch-free encoding shared by training and inference: grid, roll, tokens, note features, windows."""
