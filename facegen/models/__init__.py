"""The networks: the DCGAN's generator and discriminators (dcgan), and a trained generator loaded from a run
folder that turns seeds and latents into images (generator)."""
