"""The read-only REST API and the dashboard.

`application` builds the app from `routes` (one router per resource); the routes take the
shared `deps.Service` (pools, ranking cache) as a `deps.ServiceDep` parameter, parse their
`params`, read query rows by name (`rows`) and answer with `schemas`; `server` serves it.
"""
