"""Video I/O with PyAV: probe, decode with time stamps, encode H.264, mux audio."""
