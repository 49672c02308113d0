"""Diagnostics of a model's latent space: random-weight control, equivariance by two-NN,
rotation sensitivity, fine-tuning drift, atypical structures."""
