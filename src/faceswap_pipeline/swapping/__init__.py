"""Swapping faces in frames and videos with a swap model: the conversion's engine.

No Kedro. `settings` is light (Pydantic); import `faces` (one stream of frames) and `video` (a whole
video or photo, the model wrapped for it) directly: they load torch, OpenCV, onnxruntime and dlib.
"""
