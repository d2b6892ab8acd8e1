"""The conversion pipeline: swap faces in a video, keep its sound, mark it synthetic."""
