"""Engines: turning checkpoints into runnable graphs (ONNX, TensorRT) and running them behind one interface."""
