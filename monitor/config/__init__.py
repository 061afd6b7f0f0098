"""Settings: config.toml and the environment read into typed settings, checked whole.

May import `monitor.core` only. Reading the file and the environment happens here, once, at
the edge; everything below receives settings as arguments.
"""
