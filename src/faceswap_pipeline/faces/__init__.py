"""Faces in frames: detection (RetinaFace ONNX), tracking, identity (dlib), alignment (Umeyama),
quality.

Arrays in, arrays out; no Kedro. Import the submodules directly
(``faceswap_pipeline.faces.detection``): they load onnxruntime, OpenCV and dlib.
"""
