"""Presence: who is in the office on which day."""
