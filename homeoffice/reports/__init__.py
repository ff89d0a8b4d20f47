"""The status report for council committees: figures, charts, print view and Excel."""
