"""Measure swap quality: metric functions, arrays in and numbers out (no Kedro).

Identity (`identity`), landmark error and jitter (`landmarks`), head pose (`pose`), flicker
(`temporal`), reconstruction SSIM/L1 (`reconstruction`, torch), the streaming video evaluator
(`video`), the figures' summary (`summary`) and the HTML report (`report`). Import the submodules
directly: they load OpenCV, dlib, onnxruntime, PyAV or torch.
"""
