"""Peer libraries measured in the same run as vstorage, each in its own environment."""
