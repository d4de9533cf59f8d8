"""One Keras model-definition file per paper (+ dcgan.py, shared by papers B and C).

Importing the package registers every custom layer the exported models use (papers A, B, D, E),
so that, from the repository root, `import models` is all plain Keras needs before
`keras.models.load_model("export/inpainter.keras")`.
"""
from models import context_encoder, iizuka, layers, unsupervised  # noqa: F401  (they register the custom layers)
