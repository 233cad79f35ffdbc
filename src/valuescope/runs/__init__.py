"""Runs: run folders with resume, executors (local, Ray), sweeps and the API-model backend."""
