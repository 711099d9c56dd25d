"""Serving: turning requests into predictions with ONNX Runtime. Never imports FastAPI or SQLAlchemy.

sessions.SessionCache      bounded LRU of shared ONNX Runtime sessions, keyed by artifact sha256
inputs                     JSON tensors, images and V2 tensors -> validated float32 (N, C, H, W)
predictions                logits -> softmax and labelled predictions
v2 / v2_models             the Open Inference Protocol (KServe/Triton V2) REST codec and its JSON shapes
datatypes                  V2 datatype names <-> numpy dtypes
"""
