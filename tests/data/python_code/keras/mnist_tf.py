#!/usr/bin/env python3
"""MNIST with tf.keras; the GPU setup at the top follows the TensorFlow GPU guide."""
import os
import tensorflow as tf2

gpus = tf2.config.list_physical_devices('GPU')
if gpus:
  try:
    # Currently, memory growth needs to be the same across GPUs
    for gpu in gpus:
      tf2.config.experimental.set_memory_growth(gpu, True)
    logical_gpus = tf2.config.list_logical_devices('GPU')
    print(len(gpus), "Physical GPUs,", len(logical_gpus), "Logical GPUs")
  except RuntimeError as e:
    # Memory growth must be set before GPUs have been initialized
    print(e)

print(f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')}")
mnist = tf2.keras.datasets.mnist
(x_train, y_train), (x_test, y_test) = mnist.load_data()
x_train, x_test = x_train / 255.0, x_test / 255.0

model = tf2.keras.models.Sequential([
  tf2.keras.layers.Flatten(input_shape=(28, 28)),
  tf2.keras.layers.Dense(128, activation='relu'),
  tf2.keras.layers.Dropout(0.2),
  tf2.keras.layers.Dense(10)
])
loss_fn = tf2.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
model.compile(optimizer='adam', loss=loss_fn, metrics=['accuracy'])
with tf2.device('/GPU:0'):
    model.fit(x_train, y_train, epochs=5)
# with tf2.device('/CPU:0'): model.fit(x_train, y_train)   <- the old way, kept as a note
with tf2.device('/CPU:0'):
    test_ds = tf2.data.Dataset.from_tensor_slices((x_test, y_test)).batch(32)
model.evaluate(test_ds, verbose=2)
