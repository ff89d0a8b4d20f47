"""Scheduled jobs: a registry of idempotent operations, a runner that takes a database
lease so each occurrence runs once, and the scheduler process that triggers them."""
