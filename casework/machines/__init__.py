"""State machines: the attendance-concern workflow, configured per policy."""
