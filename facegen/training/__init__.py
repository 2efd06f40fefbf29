"""Training: the GAN's losses and tf.function step (gan) and the loop around it (loop): run folder, resume,
EMA, summaries, sample grids, in-training FID, NaN and Ctrl-C handling; the resumable supervised loop
(supervised) that the identity embedder (embedder) and the attribute classifier (attributes) share."""
