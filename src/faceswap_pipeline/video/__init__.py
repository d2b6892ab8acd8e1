"""Media I/O: videos with PyAV (probe, decode with time stamps, encode H.264, mux audio) and a
person's photos with Pillow (``photos``); both read pictures upright, as a player shows them."""
