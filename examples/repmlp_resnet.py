"""A small ResNet whose 3x3 stage convs are replaced by RepMLP blocks, as in the RepMLP paper.

Trains on scikit-learn's digits (upscaled to 16x16), then re-parameterises:
every RepMLP block becomes one FC, and the deploy model predicts the same.

    KERAS_BACKEND=jax python examples/repmlp_resnet.py

Each residual block is `x + BN(RepMLP(ReLU(BN(conv1x1(x)))))` where a plain
ResNet has a 3x3 conv; the RepMLP block's conv branches give it the 3x3
conv's locality while training, its FC sees the whole partition.
"""

import keras
import numpy as np

import keras_mixer
from keras_mixer.data import load_digits
from keras_mixer.layers import RepMLPBlock


def batch_norm(name):
    # Momentum 0.9 (PyTorch's 0.1): the moving statistics settle within a short run.
    return keras.layers.BatchNormalization(momentum=0.9, name=name)


def repmlp_residual_block(x, partition_size, num_sharesets, name):
    """The bottleneck with its 3x3 conv replaced by a RepMLP block."""
    channels = x.shape[-1]
    y = keras.layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_reduce")(x)
    y = keras.layers.ReLU(name=f"{name}_relu")(batch_norm(f"{name}_bn1")(y))
    y = RepMLPBlock(partition_size, num_sharesets=num_sharesets, name=f"{name}_repmlp")(y)
    y = batch_norm(f"{name}_bn2")(y)
    return keras.layers.ReLU(name=f"{name}_out")(keras.layers.Add(name=f"{name}_add")([x, y]))


def repmlp_resnet(input_shape=(16, 16, 3), classes=10, widths=(16, 32)):
    """Conv stem, then per stage: a strided 3x3 conv and one RepMLP residual block."""
    inputs = keras.Input(input_shape, name="images")
    x = keras.layers.Rescaling(1 / 255.0, name="rescale")(inputs)
    x = keras.layers.Conv2D(widths[0], 3, padding="same", name="stem")(x)
    side = input_shape[0]
    for stage, width in enumerate(widths):
        if stage:
            x = keras.layers.Conv2D(width, 3, strides=2, padding="same", name=f"down{stage}")(x)
            side //= 2
        x = repmlp_residual_block(x, side, num_sharesets=4, name=f"stage{stage}")
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="repmlp_resnet")


def main():
    (x_train, y_train), (x_test, y_test) = load_digits(image_size=16)
    model = repmlp_resnet()
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=64, epochs=8, validation_split=0.1, verbose=2)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)

    deployed = keras_mixer.reparameterize(model)
    _, deploy_accuracy = deployed.evaluate(x_test, y_test, verbose=0)
    train_probabilities = model.predict(x_test, verbose=0)
    deploy_probabilities = deployed.predict(x_test, verbose=0)
    difference = np.max(np.abs(train_probabilities - deploy_probabilities))
    print(f"test accuracy: training form {accuracy:.4f}, deploy form {deploy_accuracy:.4f}")
    print(f"parameters: training form {model.count_params():,}, deploy form "
          f"{deployed.count_params():,}; largest probability difference {difference:.2e}")


if __name__ == "__main__":
    main()
