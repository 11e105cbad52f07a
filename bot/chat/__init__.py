"""Chat adapters: each turns its platform's events into `Message`s and carries out effects."""
