"""The JSON API under ``/api/v1`` for the specialised applications: tokens, the
resources with the same permission checks as the screens, and its OpenAPI document."""
