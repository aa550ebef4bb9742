"""Seeing the game: 1-D and 2-D labs, theory in closed form, latent tools, training pictures, run reports."""
