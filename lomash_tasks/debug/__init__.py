"""Debugging aids: the port map, VS Code attach configurations, the doctor's checks."""
