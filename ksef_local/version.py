"""The version, kept apart so that the fa3 package can name it in SystemInfo without importing the app."""
VERSION = "0.1.0"
