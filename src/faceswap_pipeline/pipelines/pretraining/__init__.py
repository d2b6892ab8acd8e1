"""Pretraining: many people's videos → one autoencoder (`base_model`), a face prior for pair training."""
