"""Training and evaluation: data, windows, losses, the loop, evaluation protocols, export and model card."""
