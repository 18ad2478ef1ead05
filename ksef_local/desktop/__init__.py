"""The desktop launch: the window, one instance per data folder, the sender lock and the background threads."""
