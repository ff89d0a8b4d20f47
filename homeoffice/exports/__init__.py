"""Exports of rosters (device, VPN, terminal server) to files IT can work with.

``homeoffice.exports.xlsx`` is the one Excel writer of the service; it knows nothing of
Flask, so views, the CLI and scheduled jobs all use it the same way.
"""
