"""Losses shared by the five papers.

adversarial: BCE (minimax) and Wasserstein GAN losses, WGAN-GP gradient penalty.
pixel: masked MSE (A eq. 2), contextual L1 (C), L1 content (E eq. 3).
perceptual: frozen VGG19 features by paper layer name; perceptual L1 (A eq. 3),
    perceptual L2 (E eq. 4), Gram-matrix patch texture loss (E eq. 5).
"""
from . import adversarial, perceptual, pixel

__all__ = ["adversarial", "perceptual", "pixel"]
