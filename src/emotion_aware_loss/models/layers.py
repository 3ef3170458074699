"""Custom Keras layers of the fusion network (registered for ``.keras`` loading)."""

from __future__ import annotations

import keras
from keras import layers


@keras.saving.register_keras_serializable(package="emotion_aware_loss")
class FrameStd(layers.Layer):
    """Standard deviation of each feature over the time axis ``(batch, time, f)``."""

    def call(self, inputs):
        return keras.ops.std(inputs, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])
