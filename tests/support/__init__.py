"""Test helpers: offline media generation (media), a local media HTTP server (httpserver)
and an OTLP/HTTP trace receiver (otlp)."""
