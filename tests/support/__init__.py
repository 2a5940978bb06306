"""Helpers the tests share: paths, the throwaway PostgreSQL, fake exchange servers, oracles,
processes, Docker. Fixtures are plugins (tests/plugins/), never imported from here."""
