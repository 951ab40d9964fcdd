"""The model: its config and presets, the torch and numpy networks, the weights file, the registry."""
