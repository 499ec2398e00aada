"""One module per tunable task: its default space and how one trial trains (see registry)."""
