"""The read-only REST API and the dashboard: the app, its routes, dependencies, response
schemas, pages and the server."""
