"""Letters: rendering a letter job's snapshot to a stored PDF."""
