"""The networks: the DCGAN's generator and discriminators (dcgan), a trained generator loaded from a run
folder that turns seeds and latents into images (generator), the identity embedder (embedder: residual trunk,
CosFace head) and the attribute classifier on the same trunk (attributes)."""
