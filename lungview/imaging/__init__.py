"""Pure numpy/OpenCV image maths: windowing, the model-input transform and its inverse,
colormaps and blending. No Qt, no TensorFlow."""
