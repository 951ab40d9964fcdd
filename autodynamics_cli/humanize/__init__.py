"""The humanize pipeline: inputs and outputs, the file loop, musician controls, the report, the plot."""
