"""Models behind an OpenAI-compatible HTTP API, with the ``rate``/``generate``/``describe`` surface of
an in-process ``LanguageModel``.

``spec.ApiSpec`` says where the server is and how to talk to it; ``model.ApiModel`` rates and
samples through it (``rating`` holds the rating procedure, ``protocol`` the request bodies and the
reading of responses), ``client.ApiClient`` sends the requests with retries and ``cache.ResponseCache``
keeps every completion on disk, so a rerun makes no HTTP calls. The API key is read from the
environment variable ``api_key_env`` at each request; it is never stored, cached, logged, described
or put into an error message, and neither are credentials in ``base_url`` (``user:password@`` shows
as ``***@``).
"""
