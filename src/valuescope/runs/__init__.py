"""Runs: the study protocol, run folders with resume, executors (local, Ray), the API-model backend."""
