"""Running a model on files: one engine interface (torch, numpy), device choice, predict and blend."""
